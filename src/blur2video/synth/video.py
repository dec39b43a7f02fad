"""Dynamic blur from high-speed video (paper section 3): the mean of N consecutive frames is the
blur, the N frames are the targets, as the GoPro benchmark makes it.

Windows start every ``stride`` frames of every clip; each gives ``crops_per_window`` random crops
of ``size`` (0: whole frames). Sample ``k`` is the k-th (window, crop) pair in clip order, or of
an evenly drawn subset when ``samples`` is smaller, and its crop depends on (seed, k) alone, so
reruns, resumes and shards write the same bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..conventions import check_frame_count
from ..errors import Blur2VideoError, SkipSample
from ..settings import setting
from .accumulate import accumulate
from .clips import Clip, ClipReader, discover_clips


@dataclass(frozen=True)
class VideoSettings:
    frames: int = setting(7, "N consecutive frames per blur (odd)")
    stride: int = setting(7, "frames between window starts")
    size: int = setting(256, "square random crop, pixels (0: whole frames)")
    crops_per_window: int = setting(1, "random crops per window")
    accumulate: str = setting("srgb", '"srgb": average the stored values, "linear": linear light')
    seed: int = setting(0, "the synthesizer's seed")
    split: str | None = setting(None, 'GoPro: "train" or "test" where the source has both folders')
    first: int = setting(0, "use frames from this index of every clip (hold earlier ones out)")
    last: int = setting(0, "use frames before this index of every clip (0: to the end)")

    def validate(self) -> None:
        check_frame_count(self.frames)
        if self.stride < 1 or self.crops_per_window < 1 or self.size < 0:
            raise Blur2VideoError("--stride and --crops-per-window must be >= 1 and --size >= 0")
        if self.first < 0 or self.last < 0 or (self.last and self.last <= self.first):
            raise Blur2VideoError(
                f"--first {self.first} --last {self.last}: need 0 <= first < last (last 0: the clip's end)"
            )
        if self.accumulate not in ("srgb", "linear"):
            raise Blur2VideoError(f"--accumulate {self.accumulate}: choose srgb or linear")

    def as_dict(self) -> dict:
        return asdict(self)


class VideoJob:
    """Picklable synthesis job over the windows of a set of clips."""

    kind = "video"

    def __init__(self, source: str, settings: VideoSettings) -> None:
        settings.validate()
        self.video = settings
        self.clips, self.split = discover_clips(source, settings.split)
        n = settings.frames
        for c in self.clips:
            usable = self._end(c) - settings.first
            if usable < n:
                where = c.video or c.frames[0].parent
                span = f" (frames {settings.first}-{self._end(c) - 1} used)" if settings.first or settings.last else ""
                raise Blur2VideoError(
                    f"{where}: clip has {max(usable, 0)} frames{span}; --frames {n} needs at least {n}"
                )
            if settings.size and settings.size > min(c.width, c.height):
                raise Blur2VideoError(
                    f"{c.name}: crop --size {settings.size} is larger than its {c.width}x{c.height} frames; lower "
                    f"--size or use --size 0"
                )
        self.windows = [
            (ci, s)
            for ci, c in enumerate(self.clips)
            for s in range(settings.first, self._end(c) - n + 1, settings.stride)
        ]
        self.total = self.available  # samples the run asks for (set by the caller)
        self._readers: dict[int, ClipReader] = {}

    def _end(self, clip: Clip) -> int:
        return min(clip.count, self.video.last) if self.video.last else clip.count

    @property
    def available(self) -> int:
        return len(self.windows) * self.video.crops_per_window

    def settings(self) -> dict:
        return {
            **self.video.as_dict(),
            "split": self.split,
            "clips": [c.name for c in self.clips],
            "available": self.available,
            "samples": self.total,
        }

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_readers": {}}

    def pair(self, index: int) -> tuple[int, int]:
        """(window index, crop index) of sample ``index``: every pair in order when ``total`` is
        the available count, evenly spaced pairs when it is smaller; beyond ``total`` (streaming
        for training) the pairs repeat with new crops."""
        index %= self.total
        pick = index if self.total >= self.available else int(index * self.available / self.total)
        return divmod(pick, self.video.crops_per_window)

    def make(self, index: int) -> tuple:
        w, _ = self.pair(index)
        ci, start = self.windows[w]
        clip: Clip = self.clips[ci]
        n = self.video.frames
        reader = self._readers.setdefault(ci, ClipReader(clip))
        try:
            frames = reader.window(start, n)
        except Blur2VideoError as exc:
            raise SkipSample(f"{exc}: skipped the window of {clip.name} frames {start}-{start + n - 1}") from None
        rng = np.random.default_rng([self.video.seed, index])
        size = self.video.size
        x = y = 0
        cw, ch = clip.width, clip.height
        if size:
            x, y = int(rng.integers(cw - size + 1)), int(rng.integers(ch - size + 1))
            cw = ch = size
        crops = [f[y : y + ch, x : x + cw] for f in frames]
        if len({c.dtype for c in crops}) > 1:  # mixed 8- and 16-bit frames: compare as floats
            crops = [c.astype(np.float32) / 255.0 if c.dtype == np.uint8 else c for c in crops]
        stack = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()  # (N, 3, h, w), uint8 or float
        meta = {
            "kind": "video",
            "clip": clip.name,
            "first_frame": start,
            "frames": n,
            "crop": [x, y, cw, ch],
            "stride": self.video.stride,
        }
        return accumulate(stack, self.video.accumulate), stack, meta, None
