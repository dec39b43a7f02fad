"""Clips of high-speed video: folders of frames (GoPro layout too) or video files, read lazily.

A clip never holds more than the frames of the current window: frame folders are read frame by
frame, video files through one forward-streaming ffmpeg reader per clip, so a 10-minute 1080p
video is never in memory at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Blur2VideoError
from ..fileio import IMAGE_SUFFIXES, first_line, holds_16bit_colour, read_image, too_large_error

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def natural_key(path: Path | str) -> list:
    """frame_2 before frame_10: digit runs compare as numbers."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def _images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)


def _videos(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES), key=natural_key)


@dataclass
class Clip:
    """One clip: ``frames`` (paths) for a frame folder, or ``video`` for a video file."""

    name: str
    count: int
    width: int
    height: int
    frames: list[Path] = field(default_factory=list)
    video: Path | None = None
    bad: dict[int, str] = field(default_factory=dict)  # frame index -> why it cannot be read

    def describe(self, index: int) -> str:
        return str(self.frames[index]) if self.frames else f"{self.video} frame {index}"


def _frame_folder_clip(name: str, folder: Path, paths: list[Path]) -> Clip:
    """Check that every frame's header is readable and all sizes agree; unreadable frames are
    remembered (their windows are skipped later), a differing size is an error."""
    from PIL import Image

    sizes: dict[tuple[int, int], Path] = {}
    bad: dict[int, str] = {}
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as img:
                size = img.size
        except Image.DecompressionBombError as exc:  # not a frame that failed: a file that must not be decoded at all
            raise too_large_error(p, exc) from None
        except Exception as exc:  # PIL raises many types for broken files
            bad[i] = f"{p}: unreadable ({exc.__class__.__name__})"
            continue
        sizes.setdefault(size, p)
    if len(sizes) > 1:
        (s1, p1), (s2, p2) = list(sizes.items())[:2]
        raise Blur2VideoError(
            f"{folder}: frames of differing sizes in one clip ({p1.name} is {s1[0]}x{s1[1]}, {p2.name} is "
            f"{s2[0]}x{s2[1]}); resize them or split the clip"
        )
    if not sizes:
        raise Blur2VideoError(f"{folder}: none of its {len(paths)} frames can be read")
    ((w, h),) = sizes
    return Clip(name=name, count=len(paths), width=w, height=h, frames=paths, bad=bad)


def _video_clip(path: Path) -> Clip:
    import imageio_ffmpeg

    try:
        count, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
    except (RuntimeError, OSError, StopIteration) as exc:
        raise Blur2VideoError(
            f"{path}: not a readable video ({first_line(exc)}); check the file or convert it with ffmpeg"
        ) from None
    w, h = meta["size"]
    if count < 1:
        raise Blur2VideoError(f"{path}: the video has no frames")
    return Clip(name=path.stem, count=int(count), width=int(w), height=int(h), video=path)


def discover_clips(source: str | Path, split: str | None = None) -> tuple[list[Clip], str | None]:
    """Clips under ``source`` and the split used. Accepted: a video file; a folder of frames; a
    folder of clip folders (each ``SCENE/*.png`` or ``SCENE/sharp/*.png``, the GoPro_Large
    layout) and/or video files; with ``train``/``test`` subfolders, the ``split`` one."""
    root = Path(source)
    if not root.exists():
        raise Blur2VideoError(f"{root}: no such file or folder")
    if root.is_file():
        if root.suffix.lower() not in VIDEO_SUFFIXES:
            raise Blur2VideoError(
                f"{root}: not a video file ({', '.join(sorted(VIDEO_SUFFIXES))}) nor a folder of frames"
            )
        return [_video_clip(root)], None
    used_split = None
    if (root / "train").is_dir() or (root / "test").is_dir():
        used_split = split or "train"
        if not (root / used_split).is_dir():
            raise Blur2VideoError(f"{root}: has no {used_split}/ folder (GoPro split); choose --split train or test")
        root = root / used_split
    images = _images(root)
    if images:
        return [_frame_folder_clip(root.name, root, images)], used_split
    clips = [_video_clip(v) for v in _videos(root)]
    for sub in sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=natural_key):
        frames_dir = sub / "sharp" if (sub / "sharp").is_dir() else sub
        frames = _images(frames_dir)
        if frames:
            clips.append(_frame_folder_clip(sub.name, frames_dir, frames))
    if not clips:
        raise Blur2VideoError(f"{root}: empty: no frames, clip folders or videos found")
    return clips, used_split


def _read_frame(path: Path) -> np.ndarray:
    """An 8-bit RGB frame as uint8 (the common case, read as is); anything else (16-bit too) via read_image."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            if img.mode == "RGB" and not holds_16bit_colour(img):
                return np.asarray(ImageOps.exif_transpose(img))
    except Exception:  # PIL raises many types for broken files; read_image gives the one-line error
        pass
    return read_image(path)


class ClipReader:
    """Reads windows of one clip; for videos, streams forward and keeps only what the next
    window can still need (windows are asked for in increasing order)."""

    def __init__(self, clip: Clip) -> None:
        self.clip = clip
        self._gen = None
        self._next = 0  # index of the next frame the ffmpeg stream will yield
        self._cache: dict[int, np.ndarray] = {}

    def window(self, start: int, count: int) -> list[np.ndarray]:
        """Frames ``start .. start+count-1`` as HxWx3 arrays: uint8 when the source is 8-bit (video,
        8-bit PNG/JPEG, so averaging reads a quarter of the bytes), else float32 in [0, 1].
        Raises Blur2VideoError naming a bad frame."""
        for i in range(start, start + count):
            if i in self.clip.bad:
                raise Blur2VideoError(self.clip.bad[i])
        if self.clip.frames:
            return [_read_frame(self.clip.frames[i]) for i in range(start, start + count)]
        return self._video_window(start, count)

    def _video_window(self, start: int, count: int) -> list[np.ndarray]:
        import imageio_ffmpeg

        if self._gen is None or start < min(self._cache, default=self._next):
            self.close()
            self._gen = imageio_ffmpeg.read_frames(str(self.clip.video))
            next(self._gen)  # metadata
            self._next, self._cache = 0, {}
        self._cache = {i: f for i, f in self._cache.items() if i >= start}
        w, h = self.clip.width, self.clip.height
        while self._next < start + count:
            try:
                raw = next(self._gen)
            except (StopIteration, RuntimeError) as exc:
                raise Blur2VideoError(
                    f"{self.clip.video}: the video ends or breaks at frame {self._next} "
                    f"({exc.__class__.__name__}); it may be truncated"
                ) from None
            if self._next >= start:
                self._cache[self._next] = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
            self._next += 1
        return [self._cache[i] for i in range(start, start + count)]

    def close(self) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = None
