"""Build the training and validation datasets a resolved training config asks for."""

from __future__ import annotations

from dataclasses import fields

from ..errors import Blur2VideoError
from ..synth.rotation import RotationJob, RotationSettings
from ..synth.scenes import SceneJob, SceneSettings
from ..synth.sources import discover_sources
from ..synth.video import VideoJob, VideoSettings
from .dataset import Augment, FolderDataset, StreamDataset
from .degrade import Degradation

VAL_SEED_OFFSET = 1_000_003  # validation streams draw from another seed than training streams
STREAM_KEYS = {"kind", "weight", "order_invariant"}  # keys of every [[data.stream]] table, whatever its kind


def _settings_from(table: dict, cls, extra_keys: set[str], kind: str) -> dict:
    known = {f.name for f in fields(cls)}
    unknown = set(table) - known - extra_keys - STREAM_KEYS
    if unknown:
        raise Blur2VideoError(
            f"[[data.stream]] {kind}: unknown keys {sorted(unknown)}; valid: {sorted(known | extra_keys | STREAM_KEYS - {'kind'})}"
        )
    return {k: v for k, v in table.items() if k in known}


def _rotation_job(table: dict, frames: int, seed_offset: int) -> RotationJob:
    settings = _settings_from(table, RotationSettings, {"source", "force"}, "rotation")
    if "source" not in table:
        raise Blur2VideoError('[[data.stream]] rotation: needs source = "FOLDER" or "skimage"')
    settings.update(frames=frames, seed=int(settings.get("seed", 0)) + seed_offset)
    return RotationJob(
        discover_sources(str(table["source"])), RotationSettings(**settings), force=bool(table.get("force", False))
    )


def _video_job(table: dict, frames: int, seed_offset: int) -> VideoJob:
    settings = _settings_from(table, VideoSettings, {"source"}, "video")
    if "source" not in table:
        raise Blur2VideoError('[[data.stream]] video: needs source = "VIDEO_OR_FOLDER"')
    settings.update(frames=frames, seed=int(settings.get("seed", 0)) + seed_offset)
    return VideoJob(str(table["source"]), VideoSettings(**settings))


def _scene_job(table: dict, frames: int, seed_offset: int) -> SceneJob:
    settings = _settings_from(table, SceneSettings, {"textures"}, "scenes")
    settings.update(frames=frames, seed=int(settings.get("seed", 0)) + seed_offset)
    return SceneJob(discover_sources(str(table.get("textures", "skimage"))), SceneSettings(**settings))


def stream_job(table: dict, frames: int, seed_offset: int = 0):
    """One synthesizer from a ``[[data.stream]]`` table (``kind`` picks it)."""
    builders = {"rotation": _rotation_job, "video": _video_job, "scenes": _scene_job}
    kind = table.get("kind")
    if kind not in builders:
        raise Blur2VideoError(f"[[data.stream]] kind = {kind!r}: choose one of {', '.join(builders)}")
    return builders[kind](table, frames, seed_offset)


def build_datasets(cfg: dict, frames: int):
    """(train, validation) datasets for a resolved config; refuses data made for another N."""
    t, d = cfg["train"], cfg["data"]
    augment = Augment(
        crop=t["crop"] or None,
        flips=t["flips"],
        reverse=t["reverse"],
        transpose=t["transpose"],
        channel_shuffle=t["channel_shuffle"],
        defocus=t["defocus"],
        defocus_sigma=t["defocus_sigma"],
        degrade=Degradation(
            noise=t["noise"], max_shot=t["noise_max_shot"], jpeg=t["jpeg"], jpeg_quality=t["jpeg_quality"]
        ),
    )
    if d["path"] and d["stream"]:
        raise Blur2VideoError("data: give either data.path (a DATASET folder) or [[data.stream]] tables, not both")
    if d["path"]:
        full = FolderDataset(d["path"], augment, t["seed"])
        if d["val_path"]:
            train, val = full, FolderDataset(d["val_path"])
        else:
            train, val = full.split(t["val_fraction"])
        for ds in (train, val):
            if ds.frames != frames:
                raise Blur2VideoError(
                    f"{ds.root}: the dataset has N={ds.frames} frames but the model predicts {frames}; set model.frames = {ds.frames} or use another dataset"
                )
        return train, val
    if not d["stream"]:
        raise Blur2VideoError("no training data: pass --data DATASET or use a config with [[data.stream]] tables")
    weights = [float(s.get("weight", 1.0)) for s in d["stream"]]
    order_free = [stream_order_invariant(s, bool(cfg["loss"]["order_invariant"])) for s in d["stream"]]
    train_jobs = [stream_job(s, frames) for s in d["stream"]]
    val_jobs = [stream_job(s, frames, VAL_SEED_OFFSET) for s in d["stream"]]
    train = StreamDataset(train_jobs, weights, d["samples_per_epoch"], frames, augment, t["seed"], order_free)
    val = StreamDataset(val_jobs, weights, d["val_samples"], frames, Augment(), t["seed"] + VAL_SEED_OFFSET, order_free)
    return train, val


def stream_order_invariant(table: dict, default: bool) -> bool:
    """A stream's ``order_invariant`` (whether its samples' PML takes the better of both orders),
    ``loss.order_invariant`` where the table is silent."""
    value = table.get("order_invariant", default)
    if not isinstance(value, bool):
        raise Blur2VideoError(
            f"[[data.stream]] {table.get('kind')}: order_invariant must be true or false, got {value!r}"
        )
    return value


def real_validation_set(cfg: dict, frames: int) -> FolderDataset | None:
    """``data.val_real``: a DATASET of real blur kept out of training (e.g. held-out frames of a
    high-speed video, ``synth video --size 0``), whole photos, tracked beside the validation set
    so a checkpoint is never chosen on synthetic data alone; None when not given."""
    path = cfg["data"]["val_real"]
    if not path:
        return None
    real = FolderDataset(path)
    if real.frames != frames:
        raise Blur2VideoError(
            f"{real.root}: data.val_real has N={real.frames} frames but the model predicts {frames}; make it with --frames {frames}"
        )
    return real
