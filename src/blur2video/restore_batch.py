"""``blur2video restore`` over many photos: each photo's files are written by a background thread
while the next photo runs through the network, with progress and, on request, where the time went.

Per photo the work is load (decode the file), network (the restore, tiles and all) and writing
(PNG, GIF, MP4, sheet, motion). The writer takes one photo at a time and the next photo waits for
it, so memory holds at most the photo being written and the one being computed; a photo that is
restored in tiles (the ones that need the most memory) first waits until the writer is idle.
Results, notes and errors are printed in input order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from . import progress
from .background import BackgroundWriter
from .errors import Blur2VideoError
from .outputs import check_slot, output_names, warm_up, write_outputs
from .restore import RestoredVideo, Restorer, load_input


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


class _Tiles:
    """The progress of one tiled photo, drawn only once it turns out to be tiled."""

    def __init__(self, desc: str) -> None:
        self.desc, self.bar = desc, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = progress.track(total, self.desc, "tile", initial=done, every_s=0.0, leave=False)
        else:
            self.bar.update(done - self.bar.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _failure(path: Path, exc: Blur2VideoError) -> str:
    return str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"


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
        progress.track(len(paths), "restore", "photo", every_s=0.0, enabled=len(paths) > 1) as bar,
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
            tiles = _Tiles(f"restore {path.name}")
            try:
                check_slot(out, name)  # before computing: a refused OUT/NAME costs nothing
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
