"""``blur2video restore`` over many photos: each photo's files are written by a background thread
while the next photo runs through the network, with progress and, on request, where the time went.

Per photo the work is load (decode the file), network (the restore, tiles and all) and writing
(PNG, GIF, MP4, sheet, motion). The writer takes one photo at a time and the next photo waits for
it, so memory holds at most the photo being written and the one being computed; a photo that is
restored in tiles (the ones that need the most memory) and a video (video.py streams its frames
and writes as it goes) first wait until the writer is idle. Results, notes and errors are printed
in input order.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from . import progress
from .background import BackgroundWriter
from .errors import Blur2VideoError
from .outputs import RestoredVideo, check_slot, output_folder, output_names, warm_up, write_outputs
from .restore import Restorer, load_input
from .video import is_video, write_sharp_video


@dataclass(frozen=True)
class WriteOptions:
    """What ``write_outputs`` is asked to write for every photo."""

    formats: tuple[str, ...]
    fps: float
    pingpong: bool
    frames_only: bool


@dataclass
class Split:
    """Seconds spent per kind of work, summed over photos; ``imports`` is the writers' (matplotlib,
    imageio), made once while the first photo runs."""

    load: float = 0.0
    network: float = 0.0
    writing: float = 0.0
    imports: float = 0.0
    photos: int = 0
    failures: list[str] = field(default_factory=list)


def process_age() -> float | None:
    """Seconds since this process started (Linux's /proc), None elsewhere: the start-up (Python,
    imports, the model) that --verbose reports happened before any code here could time it."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class _Counter:
    """The progress of one long input, drawn once the work says how big it is (the tiles of a large
    photo, the frames of a video; a total that is not finite is unknown)."""

    def __init__(self, desc: str, unit: str, every_s: float = progress.LINE_EVERY_S) -> None:
        self.desc, self.unit, self.every_s, self.bar = desc, unit, every_s, None
        self.started = time.monotonic()

    def __call__(self, done: int, total: float) -> None:
        known = int(total) if math.isfinite(total) else None
        if self.bar is None:
            self.bar = progress.track(known, self.desc, self.unit, every_s=self.every_s, leave=False)
            self.bar.started = self.started  # the rate counts the first step's time (it said 21084 frames/s)
        elif known != self.bar.total:
            self.bar.set_total(known)
        if done > self.bar.done:
            self.bar.update(done - self.bar.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _failure(path: Path, exc: Blur2VideoError) -> str:
    return str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"


def _restore_video(restorer: Restorer, path: Path, out: str | os.PathLike, name: str, max_pixels: int) -> str:
    """Restore a blurred video into OUT/NAME/NAME.mp4 (written whole, as it streams); its notes and
    the line to print."""
    notes: list[str] = []
    frames = _Counter(f"restore {path.name}", "frame")
    try:
        with output_folder(out, name) as tmp:
            summary = write_sharp_video(restorer, path, tmp / f"{name}.mp4", max_pixels, notes=notes, on_frame=frames)
    finally:
        frames.close()
    for note in notes:
        progress.say(f"blur2video: note: {note}")
    return (
        f"{path} -> {Path(out) / name / f'{name}.mp4'} ({summary.frames_in} frames at {summary.fps_in:g} fps -> "
        f"{summary.frames_out} at {summary.fps_out:g} fps)"
    )


def _timed_warm_up() -> float:
    started = time.perf_counter()
    warm_up()
    return time.perf_counter() - started


def _write(video: RestoredVideo, out: str | os.PathLike, name: str, options: WriteOptions) -> tuple[Path, float]:
    """One photo's files (on the writer thread): the folder and the seconds it took."""
    started = time.perf_counter()
    folder = write_outputs(video, out, name, options.formats, options.fps, options.pingpong, options.frames_only)
    return folder, time.perf_counter() - started


def restore_all(
    restorer: Restorer,
    paths: list[Path],
    out: str | os.PathLike,
    options: WriteOptions,
    max_pixels: int,
    verbose: bool = False,
) -> Split:
    """Restore every photo of ``paths`` into OUT/NAME/; print a line per photo on stdout, its notes
    and errors on stderr, and with ``verbose`` its load / network / writing seconds."""
    startup = process_age()
    began = time.perf_counter()
    split = Split()
    frames = restorer.frames
    with (
        BackgroundWriter(pending=1, name="blur2video-restore-writer") as writer,
        progress.track(len(paths), "restore", "input", every_s=0.0, enabled=len(paths) > 1) as bar,
    ):
        if not options.frames_only:
            writer.submit(_timed_warm_up)  # the writers' imports happen while the network reads the first photo
        pending: dict[Future, tuple[Path, list[str], float, float]] = {}

        def report(futures: Iterator[Future]) -> None:
            for future in futures:
                if future not in pending:
                    split.imports += future.result()  # the warm-up: an import that fails is a broken install
                    continue
                path, notes, load, network = pending.pop(future)
                for note in notes:
                    progress.say(f"blur2video: note: {note}")
                try:
                    folder, writing = future.result()
                except Blur2VideoError as exc:
                    split.failures.append(_failure(path, exc))
                    progress.problem(f"blur2video: error: {split.failures[-1]}")
                else:
                    split.writing += writing
                    split.photos += 1
                    progress.result(f"{path} -> {folder}/ ({frames} frames)")
                    if verbose:
                        progress.say(
                            f"blur2video: time: {path}: load {load:.2f} s, network {network:.2f} s, "
                            f"writing {writing:.2f} s"
                        )
                bar.update(1)

        for path, name in zip(paths, output_names(paths), strict=True):
            notes: list[str] = []
            tiles = _Counter(f"restore {path.name}", "tile", every_s=0.0)
            try:
                check_slot(out, name)  # before computing: a refused OUT/NAME costs nothing
                if is_video(path):
                    report(writer.finished(wait=True))  # the photos before it first, and no write held meanwhile
                    started = time.perf_counter()
                    progress.result(_restore_video(restorer, path, out, name, max_pixels))
                    if verbose:
                        progress.say(f"blur2video: time: {path}: {time.perf_counter() - started:.2f} s (a video)")
                    bar.update(1)
                    continue
                started = time.perf_counter()
                image = load_input(path, notes)
                loaded = time.perf_counter()
                if image.shape[0] * image.shape[1] > max_pixels:
                    writer.idle()  # a tiled restore needs the most memory: no write is held meanwhile
                video = restorer.restore(image, max_pixels=max_pixels, notes=notes, on_tile=tiles)
                restored = time.perf_counter()
            except Blur2VideoError as exc:
                report(writer.finished(wait=True))  # the photos before it are reported first
                split.failures.append(_failure(path, exc))
                progress.problem(f"blur2video: error: {split.failures[-1]}")
                bar.update(1)
                continue
            finally:
                tiles.close()
            del image
            load, network = loaded - started, restored - loaded
            split.load += load
            split.network += network
            pending[writer.submit(_write, video, out, name, options)] = (path, notes, load, network)
            del video  # the writer holds it now, and lets it go once written
            report(writer.finished())
        report(writer.finished(wait=True))
    if verbose:
        _say_split(split, startup, time.perf_counter() - began, writer.waited)
    return split


def _say_split(split: Split, startup: float | None, wall: float, waited: float) -> None:
    """The total split: start-up, then load, network and writing, and how much of the writing
    the network did not hide."""
    head = f"blur2video: time: {split.photos} photo(s) in {wall + (startup or 0.0):.2f} s"
    parts = [f"start-up {startup:.2f} s (Python, imports, model)"] if startup is not None else []
    parts += [
        f"load {split.load:.2f} s",
        f"network {split.network:.2f} s",
        f"writing {split.writing:.2f} s and its imports {split.imports:.2f} s ({waited:.2f} s of them not "
        "overlapped with the network)",
    ]
    progress.say(f"{head}: {', '.join(parts)}")
