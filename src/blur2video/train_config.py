"""Training configuration: typed sections, loaded and checked from TOML here and nowhere else.

Defaults < a TOML preset (``configs/*.toml``) or a run's resolved ``RUN/config.toml`` <
``--set section.key=value``. The sections are dataclasses: [model] is ModelConfig (model/config.py)
with ``arch`` and ``preset``, [loss] LossConfig (losses.py), [train] :class:`TrainSettings`,
[data] :class:`DataSettings`, and each ``[[data.stream]]`` table a :class:`Stream` of its kind with
its synthesizer's settings (synth/) as keys of the same table. Every key, its type, default, range
and meaning is declared once, on its field (settings.py): the valid keys here are read off the
fields, so a field added to a section's dataclass is a setting of that section. Unknown keys,
wrongly typed and out-of-range values are refused in one line naming the key.

Overrides merge on the plain tables (:func:`merge`, as ``ablate`` merges its variants) before
they are typed; :meth:`TrainingConfig.as_dict` writes the resolved tables back (RUN/config.toml,
the checkpoints' metadata), and :meth:`TrainingConfig.from_dict` reads them, so a run resumes
with its own settings.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import tomllib

from .checkpoints import ARCHS
from .data.dataset import Augment, FolderDataset
from .data.degrade import Degradation
from .errors import Blur2VideoError
from .losses import LossConfig
from .model.config import PRESETS, ModelConfig
from .objective import PARTS
from .settings import build, check_ranges, default_of, describe, plain, plain_value, setting, type_hints
from .synth.rotation import RotationSettings
from .synth.scenes import SceneSettings
from .synth.video import VideoSettings


@dataclass(frozen=True)
class TrainSettings:
    """[train]: how long and how fast, the augmentation, the loader, logging and checkpoints, and
    what training starts from. The augmentation's ranges are checked by Augment and Degradation
    (data/), which use them."""

    epochs: int = setting(80, "passes over the training data (when train.steps is 0)", low=1)
    steps: int = setting(0, "optimiser steps to train; above 0 it overrides train.epochs", low=0)
    batch_size: int = setting(4, "the global batch: torchrun's processes share it", low=1)
    lr: float = setting(1e-4, "Adam's learning rate", above=0.0)
    lr_milestones: tuple[float, ...] = setting(
        (0.5, 0.75), "fractions of training at which the learning rate halves", low=0.0, high=1.0
    )
    crop: int = setting(128, "random square crop of every sample, pixels (0: whole samples)", low=0)
    flips: bool = setting(True, "random horizontal and vertical flips of the blur and every frame alike")
    reverse: bool = setting(True, "random time reversal of the frames (the blur stays the same)")
    transpose: bool = setting(False, "random swap of the axes too (with flips: all 8 right-angle turns and mirrors)")
    channel_shuffle: bool = setting(False, "permute the colour channels of the blur and every frame alike")
    defocus: float = setting(
        0.0, "chance (0 to 1) of the same Gaussian defocus (whole view or a smooth map) on blur and frames"
    )
    defocus_sigma: float = setting(2.5, "the largest defocus sigma, pixels (at least 0.5)")
    noise: float = setting(
        0.0, "chance (0 to 1) of sensor noise (shot + read, in linear light) on the blurred input alone"
    )
    noise_max_shot: float = setting(
        1.2e-2, "the largest shot-noise scale (1e-4 to 0.1), drawn log-uniformly from 1e-4 (data/degrade.py)"
    )
    jpeg: float = setting(0.0, "chance (0 to 1) of JPEG compression of the blurred input alone")
    jpeg_quality: int = setting(60, "the lowest JPEG quality drawn (10 to 95), the highest 95")
    workers: int = setting(2, "DataLoader worker processes (0: load in the training process)", low=0)
    seed: int = setting(0, "seeds the initial weights, the sample order, augmentation and the streams", low=0)
    val_fraction: float = setting(
        0.05,
        "the share of data.path kept for validation when data.val_path is not given (at least 1 sample)",
        above=0.0,
        below=1.0,
    )
    val_batches: int = setting(0, "batches per validation (0: the whole validation set)", low=0)
    log_every: int = setting(20, "steps between TensorBoard scalars", low=1)
    checkpoint_every: int = setting(500, "steps between checkpoints (there is one at every epoch's end too)", low=1)
    keep_checkpoints: int = setting(2, "the newest checkpoints kept", low=1)
    image_every: int = setting(1, "epochs between TensorBoard image logs", low=1)
    init: str = setting("", "a model .safetensors to start from, every tensor whose name and shape agree")
    part: str = setting(
        "",
        'train one head alone, the rest frozen: "kernel_bank" (its middle frame) or "gate" (all frames); '
        '"": the whole network',
        choices=("", *PARTS),
    )

    def __post_init__(self) -> None:
        check_ranges(self, "train")
        self.augment()

    def augment(self) -> Augment:
        """The training samples' augmentation (validation samples get none)."""
        return Augment(
            crop=self.crop or None,
            flips=self.flips,
            reverse=self.reverse,
            transpose=self.transpose,
            channel_shuffle=self.channel_shuffle,
            defocus=self.defocus,
            defocus_sigma=self.defocus_sigma,
            degrade=Degradation(
                noise=self.noise, max_shot=self.noise_max_shot, jpeg=self.jpeg, jpeg_quality=self.jpeg_quality
            ),
        )


@dataclass(frozen=True)
class Stream:
    """A ``[[data.stream]]`` table: a synthesizer run on the fly, its share of the samples and its
    loss's order rule. Its synthesizer's settings (``settings``) are keys of the same table, all
    but ``frames``, which is model.frames."""

    kind: ClassVar[str]
    synthesizer: ClassVar[type]

    weight: float = setting(1.0, "the stream's share of the samples, relative to the other streams'", low=0.0)
    order_invariant: bool | None = setting(
        None, "its samples' PML takes the better of both orders (unset: loss.order_invariant)"
    )

    def __post_init__(self) -> None:
        check_ranges(self, "")  # the loader names the table

    def synth_settings(self, frames: int, seed_offset: int = 0) -> Any:
        """The synthesizer's settings for ``frames`` frames, its seed moved by ``seed_offset``
        (validation streams draw other samples than training streams)."""
        return replace(self.settings, frames=frames, seed=self.settings.seed + seed_offset)

    def as_table(self) -> dict[str, Any]:
        return {"kind": self.kind, **plain(self, skip=("settings",)), **plain(self.settings, skip=("frames",))}


@dataclass(frozen=True)
class RotationStream(Stream):
    """kind = "rotation": a camera's rotation during the exposure over photos or panoramas
    (synth/rotation.py)."""

    kind: ClassVar[str] = "rotation"
    synthesizer: ClassVar[type] = RotationSettings

    source: str = setting("", 'required: a folder or image file of photos or panoramas, or "skimage:NAME,..."')
    force: bool = setting(False, "accept panoramas that are not 2:1")
    settings: RotationSettings = field(default_factory=RotationSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.source:
            raise Blur2VideoError('needs source = "FOLDER" or "skimage"')


@dataclass(frozen=True)
class VideoStream(Stream):
    """kind = "video": windows of consecutive frames of high-speed video, averaged (synth/video.py)."""

    kind: ClassVar[str] = "video"
    synthesizer: ClassVar[type] = VideoSettings

    source: str = setting("", "required: a video file, a folder of frames or of clips, or a GoPro_Large root")
    settings: VideoSettings = field(default_factory=VideoSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.source:
            raise Blur2VideoError('needs source = "VIDEO_OR_FOLDER"')


@dataclass(frozen=True)
class SceneStream(Stream):
    """kind = "scenes": textured layers moving independently over a moving background
    (synth/scenes.py)."""

    kind: ClassVar[str] = "scenes"
    synthesizer: ClassVar[type] = SceneSettings

    textures: str = setting("skimage", 'the textures: a folder or image file, or "skimage:NAME,..."')
    settings: SceneSettings = field(default_factory=SceneSettings)


STREAMS: dict[str, type[Stream]] = {cls.kind: cls for cls in (RotationStream, VideoStream, SceneStream)}


@dataclass(frozen=True)
class DataSettings:
    """[data]: a DATASET folder, or synthesizers streaming new samples every epoch."""

    path: str = setting("", "a DATASET/ folder to train on (else the [[data.stream]] tables)")
    val_path: str = setting("", "a separate validation DATASET/ (else train.val_fraction of data.path)")
    val_real: str = setting(
        "", "a DATASET/ of real blur kept out of training: its gains over the blur go to metrics.jsonl"
    )
    samples_per_epoch: int = setting(1000, "streams: samples per epoch", low=1)
    val_samples: int = setting(64, "streams: validation samples", low=1)
    stream: tuple[Stream, ...] = setting((), "the [[data.stream]] tables: synthesizers mixed by their weights")
    # real data a stream names as source = "${data.KEY}" (train_data.py: what each is, where it comes from)
    gopro: str = setting("", 'consecutive sharp 240 fps frames (the GoPro data set), for source = "${data.gopro}"')
    panoramas: str = setting("", '360-degree panoramas, a file or a folder, for source = "${data.panoramas}"')
    photos: str = setting("", 'sharp photographs, a folder (e.g. DIV2K), for source = "${data.photos}"')

    def __post_init__(self) -> None:
        check_ranges(self, "data")
        if self.path and self.stream:
            raise Blur2VideoError("data: give either data.path (a DATASET folder) or [[data.stream]] tables, not both")


@dataclass(frozen=True)
class TrainingConfig:
    """A resolved training configuration. ``arch`` and ``preset`` are keys of [model]."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    data: DataSettings = field(default_factory=DataSettings)
    arch: str = setting(
        "blur2video", "the network: blur2video (the paper's) or jin (the sequential baseline)", choices=tuple(ARCHS)
    )
    preset: str = setting(
        "small",
        "where base_channels, growth and dense_layers start: small, fast (the bundled model's) or paper",
        choices=tuple(PRESETS),
    )

    def __post_init__(self) -> None:
        check_ranges(self, "model")
        part = self.train.part
        if part and (self.arch != "blur2video" or not getattr(self.model, part)):
            raise Blur2VideoError(
                f'train.part = "{part}" trains that head alone: set model.{part} = true (model.arch = "blur2video")'
            )
        for i, stream in enumerate(self.data.stream, 1):
            try:
                stream.synth_settings(self.model.frames).validate()
            except Blur2VideoError as exc:
                raise Blur2VideoError(f"[[data.stream]] {i} ({stream.kind}): {exc}") from None

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """The resolved tables, as RUN/config.toml holds them; :meth:`from_dict` reads them back."""
        return {
            "model": {"arch": self.arch, "preset": self.preset, **self.model.as_dict()},
            "loss": plain(self.loss),
            "train": plain(self.train),
            "data": {**plain(self.data, skip=("stream",)), "stream": [s.as_table() for s in self.data.stream]},
        }

    @staticmethod
    def from_dict(tables: dict[str, Any], origin: str = "config") -> TrainingConfig:
        """The configuration the (partial) tables give, every key not in them at its default."""
        return _typed(merge({}, tables, origin))


SECTIONS: dict[str, type] = {"model": ModelConfig, "loss": LossConfig, "train": TrainSettings, "data": DataSettings}
MODEL_CHOICE = ("arch", "preset")  # TrainingConfig's own fields, written in [model]
PRESET_SIZES = ("base_channels", "growth", "dense_layers")  # 0 or [] in [model]: the preset's


def section_keys(section: str) -> dict[str, Any]:
    """Every key of ``section`` and its type, in the order the docs list them."""
    keys = dict(type_hints(SECTIONS[section]))
    if section == "model":
        top = type_hints(TrainingConfig)
        keys = {**{k: top[k] for k in MODEL_CHOICE}, **keys}
    return keys


def stream_keys(cls: type[Stream]) -> dict[str, Any]:
    """Every key of a ``[[data.stream]]`` table of kind ``cls.kind`` and its type."""
    own = {k: v for k, v in type_hints(cls).items() if k != "settings"}
    synth = {k: v for k, v in type_hints(cls.synthesizer).items() if k != "frames"}
    return {"kind": str, **own, **synth}


def merge(base: dict, update: dict, origin: str) -> dict:
    """``base`` updated with ``update``, both plain tables; every key of ``update`` must be a
    setting and every value of its type (``origin`` names where it came from)."""
    out = copy.deepcopy(base)
    for section, table in update.items():
        if section not in SECTIONS:
            raise Blur2VideoError(f"{origin}: unknown section [{section}]; valid: {', '.join(SECTIONS)}")
        if not isinstance(table, dict):
            raise Blur2VideoError(f"{origin}: [{section}] must be a table")
        keys = section_keys(section)
        for key, value in table.items():
            if key not in keys:
                raise Blur2VideoError(f"{origin}: unknown key {section}.{key}; valid: {', '.join(keys)}")
            if (section, key) == ("data", "stream"):
                value = _plain_streams(origin, value)
            else:
                value = plain_value(f"{origin}: {section}.{key}", keys[key], value)
            out.setdefault(section, {})[key] = value
    return out


def _plain_streams(origin: str, tables: Any) -> list[dict]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise Blur2VideoError(f"{origin}: data.stream must be [[data.stream]] tables")
    out = []
    for i, table in enumerate(tables, 1):
        kind = table.get("kind")
        if kind not in STREAMS:
            raise Blur2VideoError(
                f"{origin}: [[data.stream]] {i}: kind = {json.dumps(kind)}: choose one of {', '.join(STREAMS)}"
            )
        where = f"{origin}: [[data.stream]] {i} ({kind})"
        keys = stream_keys(STREAMS[kind])
        for key in table:
            if key not in keys:
                raise Blur2VideoError(f"{where}: unknown key {key}; valid: {', '.join(keys)}")
        out.append({k: plain_value(f"{where}: {k}", keys[k], v) for k, v in table.items()})
    return out


def _typed(raw: dict) -> TrainingConfig:
    """The dataclasses of merged, checked tables (their ranges are checked as they are made)."""
    model = dict(raw.get("model", {}))
    choice = {k: model.pop(k) for k in MODEL_CHOICE if k in model}
    preset = choice.get("preset", _default(TrainingConfig, "preset"))
    if preset not in PRESETS:
        raise Blur2VideoError(f'model.preset = "{preset}": choose one of {", ".join(PRESETS)}')
    given = {k: v for k, v in model.items() if not (k in PRESET_SIZES and v in (0, []))}
    data = dict(raw.get("data", {}))
    streams = tuple(_stream(i, t) for i, t in enumerate(data.pop("stream", []), 1))
    return TrainingConfig(
        model=build(ModelConfig, {**PRESETS[preset].as_dict(), **given}),
        loss=build(LossConfig, raw.get("loss", {})),
        train=build(TrainSettings, raw.get("train", {})),
        data=build(DataSettings, {**data, "stream": streams}),
        **choice,
    )


def _stream(i: int, table: dict) -> Stream:
    cls = STREAMS[table["kind"]]
    own = {k: v for k, v in table.items() if k in type_hints(cls)}
    synth = {k: v for k, v in table.items() if k in type_hints(cls.synthesizer)}
    try:
        return build(cls, {**own, "settings": build(cls.synthesizer, synth)})
    except Blur2VideoError as exc:
        raise Blur2VideoError(f"[[data.stream]] {i} ({cls.kind}): {exc}") from None


def _default(cls: type, name: str) -> Any:
    return next(default_of(f) for f in fields(cls) if f.name == name)


def read_config_file(path: str | Path) -> dict:
    """A TOML preset, or a resolved config.toml/config.json saved in a RUN/ folder."""
    path = Path(path)
    if not path.is_file():
        raise Blur2VideoError(f"{path}: no such config file (presets are in configs/)")
    try:
        text = path.read_text()
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Blur2VideoError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'} ({exc})") from None


def parse_override(text: str) -> dict:
    """``section.key=value`` with a TOML value (``train.lr=2e-4``, ``model.stn=false``, ``data.path="D"``);
    a bare word is taken as a string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise Blur2VideoError(f"--set {text}: write it as section.key=value, e.g. train.lr=2e-4")
    key, raw = text.split("=", 1)
    section, name = key.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return {section: {name: value}}


def resolve(config_path: str | Path | None, overrides: list[dict]) -> TrainingConfig:
    """Defaults, then the file, then each override in order; model.frames that none of them sets
    is the N of the DATASET that data.path names, and a train.crop none of them sets is at most
    its samples' shorter side."""
    tables: dict = {}
    if config_path is not None:
        tables = merge(tables, read_config_file(config_path), str(config_path))
    for o in overrides:
        tables = merge(tables, o, "--set")
    cfg = _typed(tables)
    if cfg.data.path:
        cfg = _fitted_to_data(cfg, "frames" in tables.get("model", {}), "crop" in tables.get("train", {}))
    return cfg


def _fitted_to_data(cfg: TrainingConfig, frames_set: bool, crop_set: bool) -> TrainingConfig:
    """``cfg`` fitted to the DATASET at data.path where nothing set the value, reading its header
    once: the model predicts the data's N (a 3-frame dataset trains a 3-frame model without being
    told twice, where the default N = 7 would refuse it), and the crop is at most the samples'
    shorter side (small samples train whole instead of being refused for the default 128 px).
    A value that is set and disagrees with the data is refused when the data is loaded (train_data.py, train.py)."""
    if frames_set and crop_set:
        return cfg  # nothing to fit: a DATASET that a recipe has yet to make is not read
    data = FolderDataset(cfg.data.path)
    if not frames_set and data.frames != cfg.model.frames:
        cfg = replace(cfg, model=replace(cfg.model, frames=data.frames))
    size = None if crop_set else data.sample_size()
    if size is not None and cfg.train.crop > min(size[1:]):
        cfg = replace(cfg, train=replace(cfg.train, crop=min(size[1:])))
    return cfg


def reference() -> str:
    """Every key of every section with its type, default and meaning, as a Markdown section (the
    docs' "Configuration"; ``python -m blur2video.train_config`` prints it)."""
    defaults = TrainingConfig().as_dict()
    lines = [
        "## Configuration",
        "",
        "`blur2video train` reads a TOML file (`--config`, e.g. `configs/*.toml` or a run's resolved",
        "`RUN/config.toml`), then each `--set section.key=value` (and the flags `--data`, `--steps`, `--lr`, ...)",
        "on top; every key left out keeps its default. An unknown key, a value of the wrong type or out of",
        "range stops with one line naming it. `blur2video train --print-config` prints the resolved",
        "configuration. A resumed run (`--resume` without `--config`) reads its own `RUN/config.toml`, the",
        "first run's flags and `--set` included (with `--config`, give them again): overrides of",
        "`train.lr`, `train.steps` (or `epochs`) and `train.lr_milestones` take over the rest of its",
        "schedule, while another model or `train.part` is refused. This table is generated from the",
        "dataclasses that declare the keys (`python -m blur2video.train_config`).",
    ]
    for section in SECTIONS:
        lines += ["", f"### [{section}]", "", "| key | type | default | values | meaning |", "|---|---|---|---|---|"]
        owners = [TrainingConfig if k in MODEL_CHOICE else SECTIONS[section] for k in section_keys(section)]
        for (key, hint), owner in zip(section_keys(section).items(), owners, strict=True):
            if (section, key) == ("data", "stream"):
                lines.append(f"| `stream` | tables | none | | {_field(owner, key).metadata['help']} (below) |")
                continue
            lines.append(_row(owner, key, hint, defaults[section][key]))
    lines += [
        "",
        "### [[data.stream]]",
        "",
        "Each table's `kind` picks its synthesizer; the table's other keys are the stream's and its",
        "synthesizer's settings (`frames` is `model.frames`). Validation streams draw from the same",
        "settings with another seed.",
    ]
    for cls in STREAMS.values():
        lines += [
            "",
            f'#### kind = "{cls.kind}"',
            "",
            "| key | type | default | values | meaning |",
            "|---|---|---|---|---|",
        ]
        for key, hint in stream_keys(cls).items():
            if key != "kind":
                owner = cls if key in type_hints(cls) else cls.synthesizer
                lines.append(_row(owner, key, hint, _default(owner, key)))
    return "\n".join(lines) + "\n"


def _field(cls: type, name: str) -> Any:
    return next(f for f in fields(cls) if f.name == name)


def _row(owner: type, key: str, hint: Any, default: Any) -> str:
    f = _field(owner, key)
    shown = "unset" if default is None else f"`{_toml(default)}`"
    return f"| `{key}` | {describe(hint)} | {shown} | {_values(f.metadata)} | {f.metadata.get('help', '')} |"


def _values(meta: Any) -> str:
    """A field's range as the docs' "values" column writes it."""
    if "choices" in meta:
        return ", ".join(f"`{_toml(c)}`" for c in meta["choices"])
    low = f">= {meta['low']:g}" if "low" in meta else f"> {meta['above']:g}" if "above" in meta else ""
    high = f"<= {meta['high']:g}" if "high" in meta else f"< {meta['below']:g}" if "below" in meta else ""
    return ", ".join(v for v in (low, high) if v)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


if __name__ == "__main__":
    print(reference(), end="")
