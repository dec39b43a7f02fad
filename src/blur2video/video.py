"""Restore a blurred video: each frame's N sharp sub-frames, one after another, as one video at N
times the frame rate (a blurred 30 fps clip becomes a sharp 210 fps one at N = 7: the temporal
super-resolution the paper names as its outlook).

    from blur2video import Restorer, restore_video
    restore_video(Restorer.from_pretrained(), "clip.mp4", "sharp.mp4")

Frames are streamed: one blurred frame is read ahead (so that a one-frame clip is refused before
any work) and one restored sub-frame is held back (the seam blend needs the next frame's first);
nothing else is kept, whatever the clip's length. Every frame's restore picks its own time order
(a blur and its reversal are the same photo), so each frame after the first is turned to continue
the one before it. The two sub-frames either side of the seam between consecutive frames are each
their restore's least sure frame and come from two separate restores: they are blended a little
towards each other. The sub-frames are evenly spaced in time when the shutter was open for the
whole frame interval; with a shorter exposure the motion between frames jumps at each seam.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import Blur2VideoError
from .fileio import atomic_file, first_line, to_uint8
from .frame_order import continues_reversed
from .restore import MIN_SIDE, Restorer

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg")
OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv")  # containers that hold the H.264 we write
SEAM_BLEND = 0.25  # share of the other side's sub-frame mixed into each sub-frame at a seam: the step halves
DEFAULT_FPS = 30.0  # for a file that states no frame rate


@dataclass
class VideoSummary:
    """What ``restore_video`` read and wrote. ``reversed_frames``: the input frames whose restored
    sub-frames were turned around to continue the frame before."""

    source: Path
    destination: Path
    frames_in: int
    frames_out: int
    fps_in: float
    fps_out: float
    reversed_frames: list[int] = field(default_factory=list)


def is_video(path: str | os.PathLike) -> bool:
    """A video by its suffix: restore takes these frame by frame, everything else as a photo."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def sharp_frames(
    restorer: Restorer,
    blurred: Iterable[np.ndarray],
    max_pixels: int = 1280 * 736,
    seam_blend: float = SEAM_BLEND,
    reversed_frames: list[int] | None = None,
) -> Iterator[np.ndarray]:
    """The sub-frames (H, W, 3) float32 of blurred frames, in one time order, pulling each blurred
    frame only when its sub-frames are due. Frames whose order was turned are appended to
    ``reversed_frames``."""
    _check_blend(seam_blend)
    return _joined(restorer, blurred, max_pixels, seam_blend, reversed_frames)


def _check_blend(seam_blend: float) -> None:
    if not 0.0 <= seam_blend <= 0.5:
        raise Blur2VideoError(f"seam_blend {seam_blend}: give a share from 0 (no blend) to 0.5 (the two averaged)")


def _joined(
    restorer: Restorer,
    blurred: Iterable[np.ndarray],
    max_pixels: int,
    seam_blend: float,
    reversed_frames: list[int] | None,
) -> Iterator[np.ndarray]:
    """``sharp_frames`` once its arguments are checked (a generator runs nothing until asked)."""
    held: torch.Tensor | None = None  # the last sub-frame, until the next frame's first is known
    for t, frame in enumerate(blurred):
        frames = torch.from_numpy(restorer.restore(frame, max_pixels=max_pixels, fit_motion=False).frames)
        if held is not None:
            if continues_reversed(held, frames):
                frames = frames.flip(0)
                if reversed_frames is not None:
                    reversed_frames.append(t)
            yield ((1 - seam_blend) * held + seam_blend * frames[0]).numpy()
            frames[0] = seam_blend * held + (1 - seam_blend) * frames[0]
        yield from (f.numpy() for f in frames[:-1])
        held = frames[-1]
    if held is not None:
        yield held.numpy()


def _open_reader(source: Path):
    """An imageio ffmpeg reader of ``source``, or one line naming the file."""
    import imageio.v2 as imageio

    if not source.is_file():
        raise Blur2VideoError(f"{source}: no such file")
    if source.stat().st_size == 0:
        raise Blur2VideoError(f"{source}: file is empty (0 bytes); give a video file")
    try:
        return imageio.get_reader(source, format="FFMPEG")
    except Exception as exc:  # imageio-ffmpeg raises OSError, RuntimeError, ... for files ffmpeg cannot read
        raise Blur2VideoError(
            f"{source}: not a readable video ({first_line(exc)}); give an MP4, MOV, AVI, MKV or WebM file"
        ) from None


def _read_frames(reader, source: Path) -> Iterator[np.ndarray]:
    """The frames of ``reader`` one at a time; a decoding failure midway is one line naming the file."""
    index = 0
    frames = iter(reader)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except Exception as exc:  # a truncated or damaged stream
            raise Blur2VideoError(
                f"{source}: frame {index} cannot be decoded ({first_line(exc)}); the file may be truncated: "
                f"re-encode or download it again"
            ) from None
        yield np.asarray(frame)[..., :3]
        index += 1


def _open_writer(path: Path, fps: float):
    """An H.264 writer at ``fps``; frames must have even sizes (``_even``)."""
    import imageio.v2 as imageio

    return imageio.get_writer(
        path, format="FFMPEG", fps=fps, codec="libx264", quality=8, macro_block_size=2, ffmpeg_log_level="error"
    )


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad an odd height or width by one edge pixel: H.264 in yuv420p needs even sizes."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") if h % 2 or w % 2 else frame


def write_sharp_video(
    restorer: Restorer,
    source: str | os.PathLike,
    destination: str | os.PathLike,
    max_pixels: int = 1280 * 736,
    seam_blend: float = SEAM_BLEND,
    notes: list[str] | None = None,
    on_frame: Callable[[int, float], None] | None = None,
) -> VideoSummary:
    """Restore every frame of the video ``source`` into ``destination`` (an H.264 file written in
    place: ``restore_video`` makes it atomic, the command line writes into a folder renamed whole).
    ``on_frame(done, total)`` after each input frame; ``total`` is ffmpeg's estimate or inf."""
    source, destination = Path(source), Path(destination)
    _check_blend(seam_blend)
    reader = _open_reader(source)
    try:
        meta = reader.get_meta_data()
        fps = float(meta.get("fps") or 0.0)
        if not np.isfinite(fps) or fps <= 0:
            fps = DEFAULT_FPS
            if notes is not None:
                notes.append(f"{source}: the file states no frame rate; taken as {DEFAULT_FPS:g} fps")
        frames = _read_frames(reader, source)
        ahead = list(itertools.islice(frames, 2))
        if not ahead:
            raise Blur2VideoError(f"{source}: holds no video frames; give a video file")
        if len(ahead) == 1:
            raise Blur2VideoError(
                f"{source}: has one frame, a video needs two or more; save the frame as PNG and restore it as a photo"
            )
        h, w = ahead[0].shape[:2]
        if min(h, w) < MIN_SIDE:
            raise Blur2VideoError(f"{source}: {w}x{h} is too small; the minimum is {MIN_SIDE}x{MIN_SIDE} pixels")
        total = float(meta.get("nframes") or float("inf"))
        summary = VideoSummary(source, destination, 0, 0, fps, fps * restorer.frames)
        writer = _open_writer(destination, summary.fps_out)
        try:
            blurred = itertools.chain(ahead, frames)
            subs = sharp_frames(restorer, blurred, max_pixels, seam_blend, summary.reversed_frames)
            for k, sub in enumerate(subs, 1):
                writer.append_data(_even(to_uint8(sub)))
                if on_frame is not None and k % restorer.frames == 0:
                    on_frame(k // restorer.frames, total)
                summary.frames_out = k
        finally:
            writer.close()
        summary.frames_in = summary.frames_out // restorer.frames
        return summary
    finally:
        reader.close()


def restore_video(
    restorer: Restorer,
    source: str | os.PathLike,
    destination: str | os.PathLike,
    max_pixels: int = 1280 * 736,
    seam_blend: float = SEAM_BLEND,
    notes: list[str] | None = None,
    on_frame: Callable[[int, float], None] | None = None,
) -> VideoSummary:
    """Restore the blurred video ``source`` into ``destination`` (.mp4, .mov or .mkv), a video of
    N sub-frames per frame at N times the frame rate, written whole or not at all. Frames larger
    than ``max_pixels`` are restored in tiles, as photos are; ``seam_blend`` (0 to 0.5) is the
    share of the neighbouring sub-frame mixed in on each side of the seam between two frames."""
    destination = Path(destination)
    if destination.suffix.lower() not in OUTPUT_SUFFIXES:
        raise Blur2VideoError(f"{destination}: give a destination ending in {', '.join(OUTPUT_SUFFIXES)}")
    try:
        with atomic_file(destination, suffix=destination.suffix) as tmp:
            summary = write_sharp_video(restorer, source, tmp, max_pixels, seam_blend, notes, on_frame)
    except OSError as exc:
        raise Blur2VideoError(
            f"{destination}: cannot be written ({exc.strerror or exc}); free disk space or fix the folder's permissions"
        ) from None
    summary.destination = destination
    return summary
