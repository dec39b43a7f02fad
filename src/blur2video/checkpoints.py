"""Checkpoints: safetensors only, never pickle.

A model file (``*.safetensors``) holds the weights and, in its string metadata, the architecture,
the model config and the versions that wrote it, so it can be rebuilt without any other file. The
training state is a separate pair: ``state.safetensors`` (optimiser moments, RNG state) and
``state.json`` (step, epoch, scheduler, optimiser hyper-parameters). Every file is written to a
temporary name and renamed, so a crash never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import fields
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from . import __version__
from .errors import Blur2VideoError
from .data.io import atomic_write_bytes, new_file_mode
from .model.baselines.jin import JinSequential
from .model.config import ModelConfig
from .model.network import Blur2Video

FORMAT = "blur2video-model-1"
ARCHS: dict[str, type[nn.Module]] = {"blur2video": Blur2Video, "jin": JinSequential}


def arch_name(model: nn.Module) -> str:
    for name, cls in ARCHS.items():
        if isinstance(model, cls):
            return name
    raise TypeError(f"not a blur2video model: {type(model).__name__}")


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(path: str | Path, model: nn.Module, extra: dict | None = None, dtype: torch.dtype | None = None) -> None:
    """Weights (optionally cast, e.g. fp16 for the bundled model) with config and versions."""
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "arch": arch_name(model),
        "model_config": json.dumps(model.config.as_dict()),
        "versions": json.dumps({"blur2video": __version__, "torch": torch.__version__}),
    }
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (extra or {}).items()})
    _atomic_save(tensors, Path(path), meta)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a model file, or a one-line error for a missing, truncated or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise Blur2VideoError(f"{path}: no such checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise Blur2VideoError(f"{path}: not a readable safetensors checkpoint ({exc}); it may be truncated, copy it again") from None
    if meta.get("format") != FORMAT:
        raise Blur2VideoError(f"{path}: not a blur2video model checkpoint (no '{FORMAT}' metadata); pass a file written by 'blur2video train'")
    return meta


def load_model(path: str | Path, device: str | torch.device = "cpu", expect_frames: int | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint describes and load its weights (as float32) in eval mode."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("arch") not in ARCHS:
        raise Blur2VideoError(f"{path}: unknown architecture {meta.get('arch')!r}; this blur2video knows {', '.join(ARCHS)}")
    known = {f.name for f in fields(ModelConfig)}
    raw = json.loads(meta["model_config"])
    config = ModelConfig(**{k: v for k, v in raw.items() if k in known})
    if expect_frames is not None and config.frames != expect_frames:
        raise Blur2VideoError(f"{path}: the checkpoint restores {config.frames} frames but the data has {expect_frames}; use a checkpoint trained for N={expect_frames}")
    model = ARCHS[meta["arch"]](config)
    state = {k: v.float() for k, v in read_tensors(path, "the weights", "the file may be truncated").items()}
    load_weights(model, state, str(path))
    return model.to(device).eval(), meta


def read_tensors(path: str | Path, what: str, fix: str) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, or one line naming the file, ``what`` it held and the ``fix``."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise Blur2VideoError(f"{path}: {what} cannot be read ({exc}); {fix}") from None


def load_matching_weights(model: nn.Module, path: str | Path) -> tuple[int, int]:
    """Start ``model`` from another model's weights where names and shapes agree (a warm start
    across presets: the encoder, motion networks and coarse decoder blocks carry over); the rest
    keep their initialisation. Returns (tensors copied, tensors in ``model``)."""
    state = read_tensors(path, "train.init weights", "point train.init at a model .safetensors")
    own = model.state_dict()
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise Blur2VideoError(f"{path}: no tensor of train.init fits this model; was it trained with another architecture?")
    with torch.no_grad():
        for k, v in matching.items():
            own[k].copy_(v)
    return len(matching), len(own)


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Strict load with a one-line error naming what differs (another N, switch or width)."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        detail = missing[:1] or unexpected[:1] or shapes[:1]
        raise Blur2VideoError(f"{where}: the weights do not fit this architecture ({len(missing)} missing, {len(unexpected)} unexpected, {len(shapes)} mis-shaped, e.g. {detail[0]}); was it trained with another config?")
    model.load_state_dict(state)


def save_training_state(folder: Path, optimizer: torch.optim.Optimizer, scheduler, info: dict) -> None:
    """Optimiser moments + RNG into state.safetensors; step, epoch, scheduler and optimiser
    hyper-parameters into state.json (both atomic)."""
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    per_param: dict[str, dict] = {}
    for pid, st in opt["state"].items():
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{pid}.{name}"] = value.detach().contiguous().cpu()
            else:
                per_param.setdefault(str(pid), {})[name] = value
    _atomic_save(tensors, folder / "state.safetensors", {"format": "blur2video-state-1"})
    doc = {**info, "param_groups": opt["param_groups"], "scalar_state": per_param, "scheduler": scheduler.state_dict()}
    atomic_write_bytes(folder / "state.json", json.dumps(doc, indent=1).encode())


def load_training_state(folder: Path, optimizer: torch.optim.Optimizer, scheduler) -> dict:
    """Restore what :func:`save_training_state` wrote; returns the info dict (step, epoch, ...)."""
    try:
        doc = json.loads((folder / "state.json").read_text())
        with safe_open(str(folder / "state.safetensors"), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, json.JSONDecodeError, SafetensorError) as exc:
        raise Blur2VideoError(f"{folder}: the training state cannot be read ({exc}); delete this checkpoint folder to resume from an earlier one") from None
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, extra in doc.pop("scalar_state").items():
        state.setdefault(int(pid), {}).update(extra)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": doc.pop("param_groups")})
    except (ValueError, KeyError) as exc:
        raise Blur2VideoError(f"{folder}: the optimiser state does not fit this model ({exc}); resume with the config the run was started with") from None
    scheduler.load_state_dict(doc.pop("scheduler"))
    torch.set_rng_state(tensors["rng.torch"])
    return doc
