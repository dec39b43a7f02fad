"""Library entry points for synthesis (the CLI calls these too)."""

from __future__ import annotations

import os
from pathlib import Path

from .rotation import RotationJob, RotationSettings
from .runner import run_synthesis
from .sources import discover_sources
from .writer import parse_shard


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
