"""Training configuration: defaults < TOML preset (``configs/*.toml``) < ``--set section.key=value``.

The configuration is plain nested tables so a TOML file reads like the resolved ``RUN/config.toml``
it produces. Unknown keys and wrongly typed values are refused with the valid choices, so a typo
never silently trains the wrong thing.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import tomllib

from .errors import Blur2VideoError
from .losses import DEFAULT_SCALE_WEIGHTS, LossConfig
from .model.config import ModelConfig

DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {
        "arch": "blur2video",  # or "jin" (the sequential baseline)
        "preset": "small",
        "frames": 7,
        "base_channels": 0,  # 0: the preset's
        "growth": 0,
        "dense_layers": [],  # []: the preset's; else 5 counts, decoder blocks 1/16 .. 1
        "stn": True,
        "local_warp": True,
        "itn": True,
        "refine": True,
        "kernel_bank": False,  # not in the paper: the middle frame from the kernel-bank head
        "gate": False,  # not in the paper: the other frames fall back towards the blur where the network is unsure
    },
    "loss": {
        "scale_weights": list(DEFAULT_SCALE_WEIGHTS),
        "consistency": True,
        "penalty": True,
        "lambda_tc": 0.1,
        "lambda_pt": 0.05,
        "penalty_bound": 0.1,
        "order_invariant": False,
        "middle_weight": 1.0,  # the paper's: every frame alike
    },
    "train": {
        "epochs": 80,
        "steps": 0,  # > 0 overrides epochs
        "batch_size": 4,
        "lr": 1e-4,
        "lr_milestones": [0.5, 0.75],  # fractions of training where the lr halves
        "crop": 128,
        "flips": True,
        "reverse": True,
        "transpose": False,  # swap the axes too (with flips: all 8 right-angle turns and mirrors)
        "channel_shuffle": False,  # permute the colour channels of the blur and every frame alike
        "defocus": 0.0,  # chance of the same Gaussian defocus (whole view or a smooth map) on blur and frames
        "defocus_sigma": 2.5,  # the largest defocus sigma in pixels
        "noise": 0.0,  # chance of sensor noise (shot + read, in linear light) on the blurred input alone
        "noise_max_shot": 1.2e-2,  # the largest shot-noise scale (log-uniform from 1e-4; data/degrade.py)
        "jpeg": 0.0,  # chance of JPEG compression of the blurred input alone
        "jpeg_quality": 60,  # the lowest JPEG quality drawn (up to 95)
        "workers": 2,
        "seed": 0,
        "val_fraction": 0.05,
        "val_batches": 0,  # 0: the whole validation set
        "log_every": 20,
        "checkpoint_every": 500,  # steps; also at every epoch end
        "keep_checkpoints": 2,
        "image_every": 1,  # epochs between TensorBoard image logs
        "init": "",  # a model .safetensors to start from where names and shapes agree
        "part": "",  # "kernel_bank" (middle frame's MSE) or "gate" (all frames' MSE): train that head alone ("": the whole model)
    },
    "data": {
        "path": "",  # a DATASET/ folder
        "val_path": "",  # a separate validation DATASET/ (else val_fraction of path)
        "val_real": "",  # a DATASET/ of real blur kept out of training: its gains over the blur go to metrics.jsonl
        "samples_per_epoch": 1000,  # stream only
        "val_samples": 64,  # stream only
        "stream": [],  # [[data.stream]] tables: kind, weight and the synthesizer's settings
    },
}


def _check_type(where: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise Blur2VideoError(f"{where} = {value!r}: expected true or false")
    elif isinstance(default, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Blur2VideoError(f"{where} = {value!r}: expected a number")
        value = float(value)
    elif isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise Blur2VideoError(f"{where} = {value!r}: expected an integer")
    elif isinstance(default, str) and not isinstance(value, str):
        raise Blur2VideoError(f"{where} = {value!r}: expected a string")
    elif isinstance(default, list) and not isinstance(value, list):
        raise Blur2VideoError(f"{where} = {value!r}: expected a list")
    return value


def merge(base: dict, update: dict, origin: str) -> dict:
    """``base`` updated with ``update``; every key of ``update`` must exist in DEFAULTS."""
    out = copy.deepcopy(base)
    for section, table in update.items():
        if section not in DEFAULTS:
            raise Blur2VideoError(f"{origin}: unknown section [{section}]; valid: {', '.join(DEFAULTS)}")
        if not isinstance(table, dict):
            raise Blur2VideoError(f"{origin}: [{section}] must be a table")
        for key, value in table.items():
            if key not in DEFAULTS[section]:
                raise Blur2VideoError(f"{origin}: unknown key {section}.{key}; valid: {', '.join(DEFAULTS[section])}")
            out[section][key] = _check_type(f"{origin}: {section}.{key}", DEFAULTS[section][key], value)
    return out


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


def resolve(config_path: str | Path | None, overrides: list[dict]) -> dict:
    """Defaults, then the file, then each override in order."""
    cfg = copy.deepcopy(DEFAULTS)
    if config_path is not None:
        cfg = merge(cfg, read_config_file(config_path), str(config_path))
    for o in overrides:
        cfg = merge(cfg, o, "--set")
    return cfg


def model_config(cfg: dict) -> ModelConfig:
    m = cfg["model"]
    if m["arch"] not in ("blur2video", "jin"):
        raise Blur2VideoError(f"model.arch = {m['arch']!r}: choose blur2video or jin")
    extra = {k: m[k] for k in ("base_channels", "growth") if m[k] > 0}
    if m["dense_layers"]:
        extra["dense_layers"] = tuple(m["dense_layers"])
    return ModelConfig.preset(
        m["preset"],
        frames=m["frames"],
        stn=m["stn"],
        local_warp=m["local_warp"],
        itn=m["itn"],
        refine=m["refine"],
        kernel_bank=m["kernel_bank"],
        gate=m["gate"],
        **extra,
    )


def loss_config(cfg: dict) -> LossConfig:
    return LossConfig(**{**cfg["loss"], "scale_weights": tuple(cfg["loss"]["scale_weights"])})
