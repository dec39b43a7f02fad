"""Build the training and validation datasets a resolved training config asks for: training's
glue between its config and the datasets, so it sits in the training layer, above ``data``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .data.dataset import Augment, FolderDataset, StreamDataset
from .errors import Blur2VideoError
from .synth.rotation import RotationJob
from .synth.scenes import SceneJob
from .synth.sources import discover_sources
from .synth.video import VideoJob

if TYPE_CHECKING:
    from .train_config import Stream, TrainingConfig

VAL_SEED_OFFSET = 1_000_003  # validation streams draw from another seed than training streams


def stream_job(stream: Stream, frames: int, seed_offset: int = 0):
    """The synthesizer of one ``[[data.stream]]`` table (its ``kind`` picks it)."""
    settings = stream.synth_settings(frames, seed_offset)
    if stream.kind == "rotation":
        return RotationJob(discover_sources(stream.source), settings, force=stream.force)
    if stream.kind == "video":
        return VideoJob(stream.source, settings)
    return SceneJob(discover_sources(stream.textures), settings)


def build_datasets(cfg: TrainingConfig, frames: int):
    """(train, validation) datasets for a resolved config; refuses data made for another N."""
    t, d = cfg.train, cfg.data
    augment = t.augment()
    if d.path:
        full = FolderDataset(d.path, augment, t.seed)
        if d.val_path:
            train, val = full, FolderDataset(d.val_path)
        else:
            train, val = full.split(t.val_fraction)
        for ds in (train, val):
            if ds.frames != frames:
                raise Blur2VideoError(
                    f"{ds.root}: the dataset has N={ds.frames} frames but the model predicts {frames}; set model.frames = {ds.frames} or use another dataset"
                )
        return train, val
    if not d.stream:
        raise Blur2VideoError("no training data: pass --data DATASET or use a config with [[data.stream]] tables")
    weights = [s.weight for s in d.stream]
    order_free = [cfg.loss.order_invariant if s.order_invariant is None else s.order_invariant for s in d.stream]
    train_jobs = [stream_job(s, frames) for s in d.stream]
    val_jobs = [stream_job(s, frames, VAL_SEED_OFFSET) for s in d.stream]
    train = StreamDataset(train_jobs, weights, d.samples_per_epoch, frames, augment, t.seed, order_free)
    val = StreamDataset(val_jobs, weights, d.val_samples, frames, Augment(), t.seed + VAL_SEED_OFFSET, order_free)
    return train, val


def real_validation_set(cfg: TrainingConfig, frames: int) -> FolderDataset | None:
    """``data.val_real``: a DATASET of real blur kept out of training (e.g. held-out frames of a
    high-speed video, ``synth video --size 0``), whole photos, tracked beside the validation set
    so a checkpoint is never chosen on synthetic data alone; None when not given."""
    path = cfg.data.val_real
    if not path:
        return None
    real = FolderDataset(path)
    if real.frames != frames:
        raise Blur2VideoError(
            f"{real.root}: data.val_real has N={real.frames} frames but the model predicts {frames}; make it with --frames {frames}"
        )
    return real
