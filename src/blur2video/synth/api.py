"""Library entry points for synthesis (the CLI calls these too)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..conventions import parse_shard
from ..errors import Blur2VideoError
from .rotation import RotationJob, RotationSettings
from .runner import run_synthesis
from .sources import discover_sources

if TYPE_CHECKING:  # imported where used: they load torch, which camera-rotation synthesis never needs
    from .scenes import SceneSettings
    from .video import VideoSettings


def synthesize_rotation(
    source: str | os.PathLike,
    out: str | os.PathLike,
    samples: int,
    settings: RotationSettings = RotationSettings(),
    workers: int = 1,
    shard: str | None = None,
    force: bool = False,
) -> tuple[Path, int]:
    """Write a camera-rotation blur DATASET/ from panoramas or photos; resumes what ``out`` lacks.

    ``source`` is a folder, an image file, or ``"skimage"`` for scikit-image's bundled photos.
    Returns the dataset folder and how many samples this call wrote.
    """
    job = RotationJob(discover_sources(str(source)), settings, force=force)
    return run_synthesis(job, out, samples, workers=workers, shard=parse_shard(shard))


def synthesize_video(
    source: str | os.PathLike,
    out: str | os.PathLike,
    samples: int | None = None,
    settings: VideoSettings | None = None,
    workers: int = 1,
    shard: str | None = None,
) -> tuple[Path, int]:
    """Write a dynamic-blur DATASET/ from a video file or frame folders (GoPro layout too);
    ``samples`` None takes every window (times ``crops_per_window``); ``settings`` None: the defaults."""
    from .video import VideoJob, VideoSettings

    settings = settings or VideoSettings()
    job = VideoJob(str(source), settings)
    total = job.available if samples is None else samples
    if total > job.available:
        raise Blur2VideoError(
            f"--samples {samples}: the source has only {job.available} windows x crops; ask for fewer, "
            "raise --crops-per-window (random crops of each window) or lower --stride"
        )
    job.total = total
    return run_synthesis(job, out, total, workers=workers, shard=parse_shard(shard))


def synthesize_scenes(
    out: str | os.PathLike,
    samples: int,
    settings: SceneSettings | None = None,
    textures: str = "skimage",
    workers: int = 1,
    shard: str | None = None,
) -> tuple[Path, int]:
    """Write a procedural dynamic-blur DATASET/ (moving textured objects over a moving
    background, true flows beside every sample) from ``textures`` (a folder or ``skimage``);
    ``settings`` None: the defaults."""
    from .scenes import SceneJob, SceneSettings

    settings = settings or SceneSettings()
    job = SceneJob(discover_sources(str(textures), "--textures"), settings)
    return run_synthesis(job, out, samples, workers=workers, shard=parse_shard(shard))
