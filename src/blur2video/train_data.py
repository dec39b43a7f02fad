"""Build the training and validation datasets a resolved training config asks for: training's
glue between its config and the datasets, so it sits in the training layer, above ``data``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .data.dataset import Augment, FolderDataset, StreamDataset
from .errors import Blur2VideoError
from .synth.rotation import RotationJob
from .synth.scenes import SceneJob
from .synth.sources import discover_sources
from .synth.video import VideoJob

if TYPE_CHECKING:
    from .train_config import DataSettings, Stream, TrainingConfig

VAL_SEED_OFFSET = 1_000_003  # validation streams draw from another seed than training streams

# Real data a stream names through a [data] key (``source = "${data.gopro}"``): what it is and where
# the public data set comes from. A clone has none of it, so a missing path is refused with this,
# not with the synthesizers' own advice (their --source flag is not train's).
PUBLIC_DATA = {
    "gopro": "consecutive sharp 240 fps frames, a folder of clips or of frames (the GoPro data set's all-frames "
    "release GOPRO_Large_all, Nah, Kim and Lee, CVPR 2017: https://seungjunnah.github.io/Datasets/gopro.html)",
    "panoramas": "360-degree equirectangular panoramas (2:1), an image file or a folder of them "
    "(a public 360-degree panorama collection, e.g. Poly Haven's CC0 panoramas: https://polyhaven.com/hdris)",
    "photos": "sharp photographs, a folder of them (e.g. DIV2K, Agustsson and Timofte, CVPR workshops 2017: "
    "https://data.vision.ee.ethz.ch/cvl/DIV2K/)",
}
_REFERENCE = re.compile(r"^\$\{data\.(\w+)\}$")
_BUILT_IN = ("skimage", "deadleaves")  # sources made by the package itself: nothing to find on disk


def data_path(value: str, data: DataSettings | None, where: str) -> str:
    """A stream's ``source`` or ``textures``: written ``${data.KEY}``, the path of that [data] key.
    An unset or missing path is refused in one line naming the data it needs, where the public
    data set comes from and the key to set; so is a literal path that does not exist."""
    if value.split(":", 1)[0] in _BUILT_IN:
        return value
    match = _REFERENCE.match(value)
    if match is None:
        if not Path(value).exists():
            raise Blur2VideoError(
                f"{where} = {value!r} does not exist; point it at a folder or file, "
                'or name a data key (source = "${data.gopro}", "${data.panoramas}" or "${data.photos}")'
            )
        return value
    name = match.group(1)
    if name not in PUBLIC_DATA:
        raise Blur2VideoError(
            f"{where} = {value!r} names no data key; use one of " + ", ".join(f"${{data.{k}}}" for k in PUBLIC_DATA)
        )
    path = getattr(data, name, "") if data is not None else ""
    if not path or not Path(path).exists():
        state = f"data.{name} = {path} does not exist" if path else f"data.{name} is not set"
        raise Blur2VideoError(f"{state}: this config needs {PUBLIC_DATA[name]}; pass --set data.{name}=PATH")
    return path


def check_data_keys(streams: list[tuple[Stream, DataSettings | None]]) -> None:
    """Every ``${data.KEY}`` the (stream, its config's [data]) pairs name and cannot find, in one
    line: one at a time, a clone without the data took a run per missing data set to learn them.
    One missing key is left to :func:`data_path`'s own line."""
    missing: dict[str, str] = {}
    for stream, data in streams:
        match = _REFERENCE.match(stream.textures if stream.kind == "scenes" else stream.source)
        if match is None or match.group(1) not in PUBLIC_DATA:
            continue
        name = match.group(1)
        path = getattr(data, name, "") if data is not None else ""
        if not path or not Path(path).exists():
            missing[name] = f"data.{name} = {path} does not exist" if path else f"data.{name} is not set"
    if len(missing) > 1:
        raise Blur2VideoError(
            "this config needs data it cannot find: "
            + "; ".join(f"{state} ({PUBLIC_DATA[name]})" for name, state in missing.items())
            + "; pass "
            + " ".join(f"--set data.{name}=PATH" for name in missing)
        )


def stream_source(stream: Stream, data: DataSettings | None = None) -> str:
    """The path (or built-in source) a stream draws from, its ``${data.KEY}`` resolved."""
    value = stream.textures if stream.kind == "scenes" else stream.source
    return data_path(
        value, data, f"[[data.stream]] {stream.kind}: {'textures' if stream.kind == 'scenes' else 'source'}"
    )


def stream_job(stream: Stream, frames: int, seed_offset: int = 0, data: DataSettings | None = None):
    """The synthesizer of one ``[[data.stream]]`` table (its ``kind`` picks it); ``data`` (the
    config's [data]) resolves a source written ``${data.KEY}``."""
    settings = stream.synth_settings(frames, seed_offset)
    source = stream_source(stream, data)
    if stream.kind == "rotation":
        return RotationJob(discover_sources(source, "[[data.stream]] source"), settings, force=stream.force)
    if stream.kind == "video":
        return VideoJob(source, settings)
    return SceneJob(discover_sources(source, "[[data.stream]] textures"), settings)


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
        if d.val_path and train.frames == frames != val.frames:  # the N came from --data: --frames is no fix
            raise Blur2VideoError(
                f"{val.root}: the validation DATASET (--val-data, data.val_path) has N={val.frames} frames but "
                f"{train.root} has {frames}; give a --val-data of {frames} frames"
            )
        for ds in (train, val):
            if ds.frames != frames:
                raise Blur2VideoError(
                    f"{ds.root}: the dataset has N={ds.frames} frames but model.frames = {frames} (set by the config "
                    f"or --frames); give --frames {ds.frames}, or use a DATASET of {frames} frames"
                )
        return train, val
    if not d.stream:
        raise Blur2VideoError("no training data: pass --data DATASET or use a config with [[data.stream]] tables")
    weights = [s.weight for s in d.stream]
    order_free = [cfg.loss.order_invariant if s.order_invariant is None else s.order_invariant for s in d.stream]
    check_data_keys([(s, d) for s in d.stream])
    train_jobs = [stream_job(s, frames, data=d) for s in d.stream]
    val_jobs = [stream_job(s, frames, VAL_SEED_OFFSET, data=d) for s in d.stream]
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
            f"{real.root}: data.val_real has N={real.frames} frames but the model predicts {frames}; make it with "
            f"--frames {frames}"
        )
    return real
