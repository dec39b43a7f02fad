"""Copy a training run's weights into the package as the bundled pretrained model (fp16).

    python scripts/bundle_model.py runs/demo [--from best|latest|step-NNNNNNNN] [--average K] [--out PATH]

``--out`` writes the same fp16 file elsewhere, e.g. to keep a candidate that is not bundled (yet).
``--average K`` bundles the mean of the weights of the K kept checkpoints up to ``--from`` (a
checkpoint folder or latest): single checkpoints of a short CPU run move by tenths of a dB from one
to the next on unseen data, and averaging the last few is the cheap, standard remedy (Polyak
averaging; the paper is silent).

Records in the weights' metadata what docs/model-card.md also states: the command that made them, the
training wall time and step, the data mixture (the run's [data] table) and where it ran.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import tomllib
import torch

from blur2video.checkpoints import load_model, save_model
from blur2video.restore import bundled_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument(
        "--from", dest="which", default="latest", help="best, latest or a checkpoint folder name (step-NNNNNNNN)"
    )
    parser.add_argument(
        "--average", type=int, default=1, metavar="K", help="the mean of the last K checkpoints up to --from"
    )
    parser.add_argument("--out", type=Path, default=bundled_weights())
    parser.add_argument("--command", default="blur2video train --config configs/demo.toml --out runs/demo --threads 2")
    parser.add_argument("--where", default=f"CPU ({platform.processor() or platform.machine()}, 2 cores)")
    args = parser.parse_args()
    run = args.run
    last = json.loads((run / "last.json").read_text())
    folder = run / last["dir"] if args.which in ("best", "latest") else run / "checkpoints" / args.which
    if (not args.which.startswith("step-") and args.which not in ("best", "latest")) or not (
        folder / "state.json"
    ).is_file():
        parser.error(
            f"--from {args.which}: no checkpoint {folder}; give best, latest or a folder of {run / 'checkpoints'}"
        )
    state = json.loads((folder / "state.json").read_text())
    sources = {"best": run / "best.safetensors", "latest": run / "model.safetensors"}
    source = sources.get(args.which, folder / "model.safetensors")
    model, meta = load_model(source)
    averaged = []
    if args.average > 1:
        if args.which == "best":
            parser.error(
                "--average needs --from latest or a checkpoint folder: best is not one of the kept checkpoints"
            )
        kept = sorted(p for p in (run / "checkpoints").glob("step-*") if p.name <= folder.name)[-args.average :]
        if len(kept) < args.average:
            parser.error(
                f"--average {args.average}: only {len(kept)} checkpoints up to {folder.name} in {run / 'checkpoints'}"
            )
        average_weights(model, [load_model(p / "model.safetensors")[0] for p in kept])
        averaged = [p.name for p in kept]
    cfg = tomllib.loads((run / "config.toml").read_text())
    extra = {
        "train_command": args.command,
        "train_step": int(json.loads(meta.get("step", str(state["step"])))),
        "train_wall_seconds": round(state["wall_seconds"], 1),
        "trained_on": args.where,
        "data_mixture": cfg["data"],
        "train_config": cfg,
    }
    if averaged:
        extra["averaged_checkpoints"] = averaged
    save_model(args.out, model, extra, dtype=torch.float16)
    size = args.out.stat().st_size / 1e6
    what = f"mean of {', '.join(averaged)}" if averaged else str(source)
    print(
        f"{what} -> {args.out} ({size:.1f} MB, step {extra['train_step']}, {extra['train_wall_seconds']} s of training)"
    )


def average_weights(into: torch.nn.Module, models: list[torch.nn.Module]) -> None:
    """Set ``into``'s floating-point tensors (parameters and buffers) to the mean over ``models``."""
    states = [m.state_dict() for m in models]
    mean = {k: (sum(s[k] for s in states) / len(states)) if v.is_floating_point() else v for k, v in states[-1].items()}
    into.load_state_dict(mean)


if __name__ == "__main__":
    main()
