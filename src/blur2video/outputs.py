"""A restored photo (:class:`RestoredVideo`) and its writers: frames, GIF/MP4 animation, a
side-by-side sheet and the motion. ``blur2video restore`` and ``RestoredVideo.save`` write through
the same :func:`write_outputs`, so the API writes what the command line writes.

Everything for one input goes to a temporary folder that is renamed to ``OUT/NAME`` at the end,
so an interrupted or failed restore never leaves half an output behind.

What may be removed, and nothing else (user files are never at risk, whatever the input names):

- only folders directly inside OUT whose name is a sanitised single component (``output_name``)
  or one of our own recognisable temporary names (``.blur2video-partial.HOST.PID.NAME``, an
  earlier output moved aside as ``.blur2video-replaced.HOST.PID.NAME``, and the
  ``.tmp-NAME-PID`` of earlier versions);
- only when every entry of the folder is a plain file with a name restore writes (``frame_K.png``,
  ``NAME.gif``, ``NAME.mp4``, ``sheet.png``, ``motion.json``, ``motion.png``): those files are
  unlinked one by one and the then empty folder removed, never ``rmtree``, never through a link;
- a temporary folder of another run only when that run is over (its process is gone on this host).

An existing OUT/NAME holding anything else (or a file named NAME) is refused with one line; the
other inputs are still written.

The files of one output are encoded side by side on a few threads (PNG's zlib, ffmpeg and most of
Pillow run without the GIL), and each is encoded once: the GIF's frames are quantised to one
palette once and reused for the ping-pong half.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .errors import Blur2VideoError
from .fileio import atomic_folder, to_uint8, write_png
from .motion_picture import write_motion_png

if TYPE_CHECKING:
    from .motion_fit import BlurFit

FORMATS = ("gif", "mp4")
UNSURE = 0.5  # confidence below which motion.json lists a frame as unsure
PARTIAL = ".blur2video-partial"  # a folder being written
REPLACED = ".blur2video-replaced"  # an earlier output moved aside while its replacement lands
_OURS = re.compile(r"\.blur2video-(?P<kind>partial|replaced)\.(?P<host>[^.]*)\.(?P<pid>\d+)\.(?P<name>.+)")
_LEGACY = re.compile(r"\.tmp-(?P<name>.+)-(?P<pid>\d+)")  # what versions before issue 21 left when killed
_OWN_FILE = re.compile(r"frame_\d+\.png|sheet\.png|motion\.json|motion\.png")
MAX_NAME_BYTES = 150  # leaves room within the 255-byte file-name limit for our prefixes and ".mp4"
PALETTE_SAMPLE = 1 << 19  # pixels of all frames together that the GIF's one palette is chosen from
FPS_RANGE = (0.1, 240.0)


@dataclass
class Motion:
    """The motion the network found, relative to the middle frame (backward: frame -> middle).

    ``affines`` (N, 2, 3) in pixels: frame pixel (x, y) shows the middle frame's content at
    ``A @ (x, y, 1)``; ``flow`` (N, 2, H, W): that displacement per pixel, global affine plus the
    local warp; ``local_mean``/``local_max`` (N,): size in pixels of the local-warp part alone;
    ``confidence`` (N,): the mean trust in each frame of the confidence gate and the reblur fallback
    (1: the network's frame, 0: the blurred photo itself, where it could not tell the motion), None
    for models with neither; ``blur_fit``: the global motion fitted to the blur itself
    (blur2video.motion_fit), None where it was not fitted.
    """

    affines: np.ndarray
    flow: np.ndarray
    local_mean: np.ndarray
    local_max: np.ndarray
    confidence: np.ndarray | None = None
    blur_fit: BlurFit | None = None


@dataclass
class RestoredVideo:
    """What ``Restorer.restore`` returns: the frames, their motion and the input."""

    frames: np.ndarray  # (N, H, W, 3) float32 in [0, 1]
    motion: Motion
    blur: np.ndarray  # (H, W, 3) float32, the input as read

    def frames_uint8(self) -> np.ndarray:
        return to_uint8(self.frames)

    def save(
        self,
        folder: str | os.PathLike,
        formats: str | Sequence[str] = FORMATS,
        fps: float = 8.0,
        pingpong: bool = False,
    ) -> Path:
        """Write into ``folder`` what ``blur2video restore`` writes for one photo: frame_K.png,
        FOLDER.gif and FOLDER.mp4 (``formats``: "gif", "mp4", both, or "png" for the frames alone),
        sheet.png, motion.json and motion.png. The folder appears whole or not at all; an earlier
        output there is replaced, a folder holding anything else is refused. Returns the folder."""
        chosen = check_formats(formats, "formats")
        if not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
            raise Blur2VideoError(f"fps {fps}: give a frame rate from {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g}")
        target = Path(os.path.abspath(folder))  # "." and "out/" name their folder; links are left to check_slot
        return write_outputs(self, target.parent, target.name, chosen, fps, pingpong, chosen == ("png",))


def check_formats(formats: str | Sequence[str], where: str) -> tuple[str, ...]:
    """``formats`` as a tuple of "gif", "mp4" and "png" (given as "gif,mp4" or a sequence); an
    empty or unknown one is one line naming ``where`` it came from."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    chosen = tuple(str(f).strip() for f in items if str(f).strip())
    if not chosen or any(f not in (*FORMATS, "png") for f in chosen):
        shown = formats if isinstance(formats, str) else ",".join(map(str, formats))
        raise Blur2VideoError(f"{where} {shown}: choose gif, mp4, gif,mp4 or png")
    return chosen


def output_name(path: str | os.PathLike) -> str:
    """The OUT/NAME folder of an input: its stem made one safe, visible folder name.

    ``...png`` has the stem ``..`` and ``..png`` the stem ``.``: used as is they would make OUT/..
    or OUT itself the output folder. Leading dots and spaces go (no hidden names, which also keeps
    NAME apart from our temporary names), separators and control characters become ``_``, long
    names are cut, and what is left empty becomes ``image``."""
    stem = Path(path).stem
    clean = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in stem).lstrip(". ").rstrip()
    return clean.encode()[:MAX_NAME_BYTES].decode(errors="ignore").rstrip() or "image"


def output_names(paths: list[Path]) -> list[str]:
    """One distinct output name per input, in input order: ``a/x.png`` and ``b/x.png`` give ``x``
    and ``x_2``. Compared case-insensitively, since ``X`` and ``x`` are one folder on macOS."""
    taken: set[str] = set()
    names = []
    for path in paths:
        base = name = output_name(path)
        k = 2
        while name.casefold() in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name.casefold())
        names.append(name)
    return names


def _check_name(name: str) -> None:
    """Refuse a NAME that is not one visible folder name directly inside OUT."""
    if name != output_name(name + ".x"):
        raise Blur2VideoError(
            f"output name {name!r}: must be one folder name without separators or leading dots, e.g. "
            f"{output_name(name + '.x')!r}"
        )


def _own_files(folder: Path, name: str) -> list[Path] | None:
    """The files of ``folder`` when it is a real folder holding only plain files that restore
    writes for ``name``; None when it holds anything else (then it is not ours to remove)."""
    if folder.is_symlink() or not folder.is_dir():
        return None
    files = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                return None
            if not (_OWN_FILE.fullmatch(entry.name) or entry.name in (f"{name}.gif", f"{name}.mp4")):
                return None
            files.append(Path(entry.path))
    return files


def _remove_own(folder: Path, name: str) -> bool:
    """Remove ``folder`` if it holds only what restore writes (see the module docstring): file by
    file, then the empty folder. Returns False, removing nothing else, when it is not ours."""
    files = _own_files(folder, name)
    if files is None:
        return False
    for f in files:
        f.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:  # something appeared meanwhile: it stays, and so does what it holds
        return False
    return True


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:32] or "host"


def _temporary(out_dir: Path, kind: str, name: str) -> Path:
    return out_dir / f"{kind}.{_host()}.{os.getpid()}.{name}"


def _gone(pid: int) -> bool:
    """True when no process ``pid`` runs on this host (a run that can no longer be writing)."""
    if pid == os.getpid():
        return True  # called before this run writes anything: an earlier process with our number
    if os.name == "nt":
        return False  # os.kill(pid, 0) would send Ctrl-C on Windows: never guess there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False
    return False


def clean_stale(out_dir: Path) -> list[Path]:
    """Remove what interrupted runs (SIGKILL, power loss) left in ``out_dir``: our temporary
    folders whose process is gone and which hold only restore's files. An earlier output that was
    moved aside when the run died goes back to OUT/NAME if that is still free. Returns what was
    removed."""
    removed = []
    with os.scandir(out_dir) as entries:
        names = [e.name for e in entries if e.name.startswith(".")]
    for entry in sorted(names):
        ours, legacy = _OURS.fullmatch(entry), _LEGACY.fullmatch(entry)
        match = ours or legacy
        if match is None or (ours and ours["host"] != _host()) or not _gone(int(match["pid"])):
            continue
        folder, name = out_dir / entry, match["name"]
        if (
            ours
            and ours["kind"] == "replaced"
            and output_name(name + ".x") == name
            and not os.path.lexists(out_dir / name)
        ):
            os.rename(folder, out_dir / name)
        elif _remove_own(folder, name):
            removed.append(folder)
    return removed


def prepare_out(out_dir: str | os.PathLike) -> list[Path]:
    """Make sure ``out_dir`` is a folder we can write, before any photo is computed, and clean
    what interrupted runs left there. Returns the stale temporary folders removed."""
    out = Path(out_dir)
    if os.path.lexists(out) and not out.is_dir():
        raise Blur2VideoError(f"--out {out}: is a file, not a folder; give a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".blur2video-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise Blur2VideoError(
            f"--out {out}: cannot write there ({exc.strerror or exc}); choose a folder you can write"
        ) from None
    return clean_stale(out)


def check_slot(out_dir: str | os.PathLike, name: str) -> Path:
    """OUT/NAME, which must be free or an earlier restore output (replaced when the new one is
    complete); anything else there is the user's and is refused with one line."""
    _check_name(name)
    final = Path(out_dir) / name
    if not os.path.lexists(final):
        return final
    if final.is_symlink() or not final.is_dir():
        raise Blur2VideoError(
            f"{final}: exists and is not a folder restore wrote; move it away or choose another --out"
        )
    if _own_files(final, name) is None:
        foreign = sorted(
            e.name
            for e in os.scandir(final)
            if not (_OWN_FILE.fullmatch(e.name) or e.name in (f"{name}.gif", f"{name}.mp4"))
        )
        shown = f" ({', '.join(foreign[:3])})" if foreign else ""
        raise Blur2VideoError(
            f"{final}: exists and holds what restore did not write{shown}; move it away or choose another --out"
        )
    return final


def _land(tmp: Path, final: Path, name: str) -> None:
    """Rename the finished ``tmp`` to ``final``; an earlier output there is moved aside first and
    removed only once the new one is in place (so one of them always exists)."""
    if not os.path.lexists(final):
        os.rename(tmp, final)
        return
    check_slot(final.parent, name)
    aside = _temporary(final.parent, REPLACED, name)
    _remove_own(aside, name)
    os.rename(final, aside)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(aside, final)
        raise
    _remove_own(aside, name)


def _sequence(frames: list | np.ndarray, pingpong: bool) -> list | np.ndarray:
    """Frames forward, then (ping-pong) back without repeating the ends."""
    if not (pingpong and len(frames) > 2):
        return frames
    return np.concatenate([frames, frames[-2:0:-1]]) if isinstance(frames, np.ndarray) else frames + frames[-2:0:-1]


def gif_frames(frames: np.ndarray) -> list[Image.Image]:
    """The frames as palette images sharing one 256-colour palette, chosen once from all of them
    (a subsample, octree) and applied without dithering. Choosing a palette per frame (what Pillow
    does with RGB frames) cost most of the GIF's time; the frames of one photo share their colours,
    and one palette also keeps flat areas from flickering between frames."""
    step = max(1, math.ceil(math.sqrt(frames[..., 0].size / PALETTE_SAMPLE)))
    sample = np.concatenate([f[::step, ::step] for f in frames])
    palette = Image.fromarray(sample).quantize(256, method=Image.Quantize.FASTOCTREE)
    return [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]


def write_gif(path: Path, frames: np.ndarray, fps: float, pingpong: bool) -> None:
    """A looping GIF; each frame is quantised once even where ping-pong shows it twice."""
    images = _sequence(gif_frames(frames), pingpong)
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0, optimize=False)


def write_mp4(path: Path, frames: np.ndarray, fps: float, pingpong: bool) -> None:
    """H.264 via imageio-ffmpeg; odd sizes are padded by one pixel (the codec needs even sizes)."""
    import imageio.v2 as imageio

    seq = _sequence(frames, pingpong)
    h, w = seq.shape[1:3]
    seq = np.pad(seq, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    writer = imageio.get_writer(
        path, format="FFMPEG", fps=fps, codec="libx264", quality=8, macro_block_size=2, ffmpeg_log_level="error"
    )
    try:
        for f in seq:
            writer.append_data(f)
    finally:
        writer.close()


def sheet(blur: np.ndarray, frames: np.ndarray, height: int = 256) -> np.ndarray:
    """input | frame 0 | ... | frame N-1, each scaled to ``height`` pixels (never up)."""
    h, w = blur.shape[:2]
    scale = min(1.0, height / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    tiles = [np.asarray(Image.fromarray(to_uint8(im)).resize(size, Image.BILINEAR)) for im in (blur, *frames)]
    gap = np.full((size[1], 4, 3), 255, np.uint8)
    row = [tiles[0]]
    for t in tiles[1:]:
        row += [gap, t]
    return np.concatenate(row, axis=1)


def motion_summary(video: RestoredVideo) -> dict:
    """motion.json: per frame, the fitted pixel affine, the displacement of the image centre and
    corners, and the size of the global and local motion."""
    n, _, h, w = video.motion.flow.shape
    points = {
        "centre": (w / 2, h / 2),
        "top_left": (0, 0),
        "top_right": (w - 1, 0),
        "bottom_left": (0, h - 1),
        "bottom_right": (w - 1, h - 1),
    }
    frames = []
    for j in range(n):
        a = video.motion.affines[j].astype(float)
        mag = np.hypot(*video.motion.flow[j])
        frames.append(
            {
                "frame": j,
                "affine_px": a.round(5).tolist(),
                "displacement_px": {
                    k: (a @ np.array([x, y, 1.0]) - np.array([x, y])).round(3).tolist() for k, (x, y) in points.items()
                },
                "flow_mean_px": round(float(mag.mean()), 3),
                "flow_max_px": round(float(mag.max()), 3),
                "local_mean_px": round(float(video.motion.local_mean[j]), 3),
                "local_max_px": round(float(video.motion.local_max[j]), 3),
            }
        )
        if video.motion.confidence is not None:
            frames[-1]["confidence"] = round(float(video.motion.confidence[j]), 3)
    summary = {
        "convention": "backward: frame pixel (x, y) shows the middle frame's content at affine_px @ (x, y, 1); "
        "displacement = that point minus (x, y)",
        "size": [w, h],
        "middle_frame": n // 2,
        "frames": frames,
    }
    if video.motion.confidence is not None:  # the gate and the fallback: where the model could not tell the motion
        summary["confidence_convention"] = (
            "the mean trust in each frame (the confidence gate's and the reblur fallback's): 1 is the network's "
            f"frame, 0 the blurred photo itself; frames below {UNSURE} are listed as unsure_frames (their motion "
            "is a guess)"
        )
        summary["unsure_frames"] = [j for j in range(n) if video.motion.confidence[j] < UNSURE]
    fit = video.motion.blur_fit
    if fit is not None:
        summary["blur_fit"] = {
            "convention": "the global motion, linear in time, whose warps of the middle frame average closest to "
            "the photo (affine_px as above; the frames stay the network's); reported where it reblurs closer than "
            "the network's own global motion (RMS on a 0-1 scale)",
            "reblur_rms_network": round(fit.rms_network, 5),
            "reblur_rms_fitted": round(fit.rms_fitted, 5),
        }
        if fit.rms_fitted < fit.rms_network:
            summary["blur_fit"]["affine_px"] = [a.astype(float).round(5).tolist() for a in fit.affines]
    return summary


def warm_up() -> None:
    """Import what the writers use (imageio and its ffmpeg), so a writer thread started early does it
    while the network runs instead of on the first photo's critical path."""
    import imageio.v2  # noqa: F401
    import imageio_ffmpeg

    imageio_ffmpeg.get_ffmpeg_exe()


def _run_side_by_side(jobs: list[Callable[[], None]]) -> None:
    """Run ``jobs`` on their own threads and wait for all; a failure (or Ctrl-C) is raised only
    once every job has ended, so none is still writing into a folder that is being removed."""
    pool = ThreadPoolExecutor(len(jobs), thread_name_prefix="blur2video-encode")
    try:
        futures = [pool.submit(job) for job in jobs]
        wait(futures)
    finally:
        pool.shutdown(wait=True)
    for future in futures:
        future.result()


@contextlib.contextmanager
def output_folder(out_dir: str | Path, name: str) -> Iterator[Path]:
    """A temporary folder to fill that becomes OUT/NAME whole when the block ends, or is removed if
    it fails. ``name`` must be one safe folder name (``output_name`` makes one); an existing
    OUT/NAME is replaced only if restore wrote it (see the module docstring)."""
    out_dir = Path(out_dir)
    final = check_slot(out_dir, name)
    partial = _temporary(out_dir, PARTIAL, name)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(partial) and not _remove_own(partial, name):
            raise Blur2VideoError(f"{partial}: exists and holds what restore did not write; move it away")
        with atomic_folder(
            partial,
            final,
            remove=lambda folder: _remove_own(folder, name),
            land=lambda done, dest: _land(done, dest, name),
        ) as tmp:
            yield tmp
    except OSError as exc:
        raise Blur2VideoError(
            f"{final}: cannot be written ({exc.strerror or exc}); free disk space or fix the folder's permissions"
        ) from None


def write_outputs(
    video: RestoredVideo,
    out_dir: str | Path,
    name: str,
    formats: tuple[str, ...] = FORMATS,
    fps: float = 8.0,
    pingpong: bool = False,
    frames_only: bool = False,
) -> Path:
    """Write OUT/NAME/{frame_*.png, NAME.gif, NAME.mp4, sheet.png, motion.json, motion.png}
    atomically (``output_folder``)."""
    with output_folder(out_dir, name) as tmp:
        frames8 = video.frames_uint8()

        def frames_and_sheet() -> None:
            for j, f in enumerate(frames8):
                write_png(tmp / f"frame_{j}.png", f)
            if not frames_only:
                write_png(tmp / "sheet.png", sheet(video.blur, frames8))

        def motion() -> None:
            (tmp / "motion.json").write_text(json.dumps(motion_summary(video), indent=1))
            write_motion_png(tmp / "motion.png", video.motion.flow, video.motion.affines)

        jobs = [frames_and_sheet]
        if not frames_only:  # the longest first: they start while the shorter ones queue for a core
            jobs = [motion, *jobs]
            if "gif" in formats:
                jobs.insert(1, lambda: write_gif(tmp / f"{name}.gif", frames8, fps, pingpong))
            if "mp4" in formats:
                jobs.append(lambda: write_mp4(tmp / f"{name}.mp4", frames8, fps, pingpong))
        _run_side_by_side(jobs)
    return Path(out_dir) / name
