"""A training run's weights as one model file: one checkpoint or the mean of the last few, usually fp16.

Shared by ``scripts/bundle_model.py`` (which writes the bundled pretrained model) and the recipe
runner (``blur2video train --recipe``, which hands each stage's weights to the next), so a stage
of the recipe passes on exactly what a maintainer would have bundled by hand. The file records in
its metadata what the README also states: the command that made it, the training wall time and
step, the data mixture (the run's [data] table) and where it ran.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import tomllib
import torch

from .checkpoints import load_model, save_model
from .errors import Blur2VideoError


def average_weights(into: torch.nn.Module, models: list[torch.nn.Module]) -> None:
    """Set ``into``'s floating-point tensors (parameters and buffers) to the mean over ``models``.

    Single checkpoints of a short CPU run move by tenths of a dB on unseen data; the mean of the
    last few is the cheap, standard remedy (Polyak averaging; the paper is silent)."""
    states = [m.state_dict() for m in models]
    mean = {k: (sum(s[k] for s in states) / len(states)) if v.is_floating_point() else v for k, v in states[-1].items()}
    into.load_state_dict(mean)


def where_trained(device: str = "cpu") -> str:
    """``CPU (x86_64, 2 threads)``-style words for the weights' ``trained_on``."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"CUDA ({torch.cuda.get_device_name()})"
    threads = torch.get_num_threads()
    return f"CPU ({platform.processor() or platform.machine()}, {threads} thread{'s' if threads > 1 else ''})"


def bundle_run(
    run: str | Path,
    out: str | Path,
    which: str = "latest",
    average: int = 1,
    command: str = "",
    where: str = "",
    dtype: torch.dtype | None = torch.float16,
) -> dict:
    """Write ``run``'s weights to ``out``: ``which`` is best, latest or a checkpoint folder name
    (step-NNNNNNNN); ``average`` K > 1 takes the mean of the K kept checkpoints up to it.
    Returns the metadata it added (step, wall time, command, ...)."""
    run, out = Path(run), Path(out)
    last_file = run / "last.json"
    if not last_file.is_file():
        raise Blur2VideoError(f"{run}: no finished checkpoint (no last.json); train it first")
    last = json.loads(last_file.read_text())
    folder = run / last["dir"] if which in ("best", "latest") else run / "checkpoints" / which
    if (not which.startswith("step-") and which not in ("best", "latest")) or not (folder / "state.json").is_file():
        raise Blur2VideoError(
            f"--from {which}: no checkpoint {folder}; give best, latest or a folder of {run / 'checkpoints'}"
        )
    state = json.loads((folder / "state.json").read_text())
    sources = {"best": run / "best.safetensors", "latest": run / "model.safetensors"}
    source = sources.get(which, folder / "model.safetensors")
    model, meta = load_model(source)
    averaged = []
    if average > 1:
        if which == "best":
            raise Blur2VideoError(
                "--average needs --from latest or a checkpoint folder: best is not one of the kept checkpoints"
            )
        kept = sorted(p for p in (run / "checkpoints").glob("step-*") if p.name <= folder.name)[-average:]
        if len(kept) < average:
            raise Blur2VideoError(
                f"--average {average}: only {len(kept)} checkpoints up to {folder.name} in {run / 'checkpoints'}"
            )
        average_weights(model, [load_model(p / "model.safetensors")[0] for p in kept])
        averaged = [p.name for p in kept]
    cfg = tomllib.loads((run / "config.toml").read_text())
    extra = {
        "train_command": command,
        "train_step": int(json.loads(meta.get("step", str(state["step"])))),
        "train_wall_seconds": round(state["wall_seconds"], 1),
        "trained_on": where or where_trained(),
        "data_mixture": cfg["data"],
        "train_config": cfg,
    }
    if averaged:
        extra["averaged_checkpoints"] = averaged
    save_model(out, model, extra, dtype=dtype)
    return {**extra, "source": f"mean of {', '.join(averaged)}" if averaged else str(source)}
