"""Checkpoints: safetensors only, never pickle.

A model file (``*.safetensors``) holds the weights and, in its string metadata, the architecture,
the model config and the versions that wrote it, so it can be rebuilt without any other file. The
training state is a separate pair: ``state.safetensors`` (optimiser moments, RNG state) and
``state.json`` (step, epoch, scheduler, optimiser hyper-parameters). Every file is written to a
temporary name and renamed, so a crash never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ._version import __version__
from .errors import Blur2VideoError
from .fileio import atomic_file, atomic_write_bytes
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
    with atomic_file(path, suffix="") as tmp:
        save_file(tensors, tmp, metadata=metadata)


def save_model(path: str | Path, model: nn.Module, extra: dict | None = None, dtype: torch.dtype | None = None) -> None:
    """Weights (optionally cast, e.g. fp16 for the bundled model) with config and versions."""
    tensors = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().contiguous().cpu()
        for k, v in model.state_dict().items()
    }
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
    if path.is_dir():  # a RUN folder: name the model file in it
        inside = [path / name for name in ("best.safetensors", "model.safetensors") if (path / name).is_file()]
        hint = f"give {inside[0]}" if inside else "give a model file in it, such as RUN/best.safetensors"
        raise Blur2VideoError(f"{path}: is a folder, not a model file; {hint}")
    if not path.is_file():
        raise Blur2VideoError(f"{path}: no such checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        with path.open("rb") as f:
            head = f.read(9)
        if head[8:9] != b"{":  # a safetensors file opens with its header's length, then the JSON header
            raise Blur2VideoError(
                f"{path}: not a safetensors file; give a model file written by 'blur2video train' "
                "(RUN/best.safetensors)"
            ) from None
        raise Blur2VideoError(
            f"{path}: not a readable safetensors checkpoint ({exc}); it may be truncated, copy it again"
        ) from None
    if (
        meta.get("format") != FORMAT
        and path.name == "state.safetensors"
        and (path.parent / "model.safetensors").is_file()
    ):
        raise Blur2VideoError(
            f"{path}: a checkpoint's optimiser state, not its model; give {path.parent / 'model.safetensors'}"
        )
    if meta.get("format") != FORMAT:
        raise Blur2VideoError(
            f"{path}: not a blur2video model checkpoint (no '{FORMAT}' metadata); pass a file written by "
            f"'blur2video train'"
        )
    return meta


def model_config_of(meta: dict[str, str], path: str | Path) -> ModelConfig:
    """The ModelConfig a checkpoint's metadata describes, or one line naming the file: its
    ``model_config`` may be missing, not JSON, not a table or hold impossible values."""
    text = meta.get("model_config")
    if text is None:
        raise Blur2VideoError(
            f"{path}: the checkpoint has no model_config metadata, so its model cannot be rebuilt; use a file "
            f"written by 'blur2video train'"
        )
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Blur2VideoError(
            f"{path}: the checkpoint's model_config metadata is not JSON ({exc}); use a file written by "
            f"'blur2video train'"
        ) from None
    if not isinstance(raw, dict):
        raise Blur2VideoError(
            f"{path}: the checkpoint's model_config metadata is a {type(raw).__name__}, not a table of settings; "
            f"use a file written by 'blur2video train'"
        )
    known = {f.name for f in fields(ModelConfig)}
    try:
        return ModelConfig(**{k: v for k, v in raw.items() if k in known})
    except Blur2VideoError as exc:
        raise Blur2VideoError(
            f"{path}: the checkpoint's model_config is impossible ({exc}); use a file written by 'blur2video train'"
        ) from None
    except (TypeError, ValueError) as exc:
        raise Blur2VideoError(
            f"{path}: the checkpoint's model_config holds a wrongly typed value ({exc}); use a file written by "
            f"'blur2video train'"
        ) from None


def load_model(
    path: str | Path, device: str | torch.device = "cpu", expect_frames: int | None = None
) -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint describes and load its weights (as float32) in eval mode."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("arch") not in ARCHS:
        raise Blur2VideoError(
            f"{path}: unknown architecture {meta.get('arch')!r}; this blur2video knows {', '.join(ARCHS)}"
        )
    config = model_config_of(meta, path)
    if expect_frames is not None and config.frames != expect_frames:
        raise Blur2VideoError(
            f"{path}: the checkpoint restores {config.frames} frames but the data has {expect_frames}; use a "
            f"checkpoint trained for N={expect_frames}"
        )
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
    check_finite(state, str(path), "point train.init at a checkpoint from before the run went wrong")
    own = model.state_dict()
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise Blur2VideoError(
            f"{path}: no tensor of train.init fits this model; was it trained with another architecture?"
        )
    with torch.no_grad():
        for k, v in matching.items():
            own[k].copy_(v)
    return len(matching), len(own)


def load_weights(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    where: str,
    fix: str = "use a checkpoint from before the run went wrong",
) -> None:
    """Strict load with a one-line error naming what differs (another N, switch or width), or
    the first NaN/infinite tensor and the ``fix``."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        detail = missing[:1] or unexpected[:1] or shapes[:1]
        raise Blur2VideoError(
            f"{where}: the weights do not fit this architecture ({len(missing)} missing, {len(unexpected)} "
            f"unexpected, {len(shapes)} mis-shaped, e.g. {detail[0]}); was it trained with another config?"
        )
    check_finite(state, where, fix)
    model.load_state_dict(state)


def check_finite(state: dict[str, torch.Tensor], where: str, fix: str) -> None:
    """NaN or infinite weights would only surface later, deep inside the network (a solver's
    internal assert); refuse them at load time, naming the file and the first bad tensor."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise Blur2VideoError(
            f"{where}: {len(bad)} weight tensors hold NaN or infinite values (e.g. {bad[0]}), so this checkpoint "
            f"is broken; {fix}"
        )


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
    doc = {
        **info,
        "param_groups": opt["param_groups"],
        "scalar_state": per_param,
        "scheduler": _scheduler_to_json(scheduler.state_dict()),
    }
    atomic_write_bytes(folder / "state.json", json.dumps(doc, indent=1).encode())


def _scheduler_to_json(state: dict) -> dict:
    """JSON keys are strings: MultiStepLR's milestones (a Counter of step -> count) are written
    as {"step": count} and turned back into integers by :func:`_scheduler_from_json`."""
    if isinstance(state.get("milestones"), dict):
        state = {**state, "milestones": {str(k): int(v) for k, v in state["milestones"].items()}}
    return state


def _scheduler_from_json(state: dict) -> dict:
    """The scheduler state as torch wants it. Milestones with string keys (every state.json,
    including those written before this conversion existed) become a Counter of ints again:
    left as strings, ``step in milestones`` is never true and the rate never halves."""
    milestones = state.get("milestones")
    if isinstance(milestones, dict):
        state = {**state, "milestones": Counter({int(k): int(v) for k, v in milestones.items()})}
    return state


def load_training_state(
    folder: Path, optimizer: torch.optim.Optimizer, scheduler, fix: str = "resume from an earlier checkpoint"
) -> dict:
    """Restore what :func:`save_training_state` wrote; returns the info dict (step, epoch, ...).
    Anything unreadable or incomplete is one line naming ``folder`` and the ``fix``."""
    try:
        doc = json.loads((folder / "state.json").read_text())
        with safe_open(str(folder / "state.safetensors"), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, SafetensorError) as exc:
        raise Blur2VideoError(f"{folder}: the training state cannot be read ({exc}); {fix}") from None
    try:
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value
        for pid, extra in doc.pop("scalar_state").items():
            state.setdefault(int(pid), {}).update(extra)
        param_groups, sched, rng = (
            doc.pop("param_groups"),
            _scheduler_from_json(doc.pop("scheduler")),
            tensors["rng.torch"],
        )
        doc["step"], doc["wall_seconds"] = int(doc["step"]), float(doc["wall_seconds"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Blur2VideoError(
            f"{folder}: the training state is incomplete or damaged ({type(exc).__name__}: {exc}); {fix}"
        ) from None
    try:
        optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    except (ValueError, KeyError) as exc:
        raise Blur2VideoError(
            f"{folder}: the optimiser state does not fit this model ({exc}); resume with the config the run was "
            f"started with"
        ) from None
    scheduler.load_state_dict(sched)
    torch.set_rng_state(rng)
    return doc
