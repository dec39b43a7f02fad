"""Score every checkpoint of a run on a larger validation stream, per stream, to pick the one to keep.

    python scripts/validate_checkpoints.py runs/stage4-rotation-order --samples 256 [--also AVERAGED.safetensors]

The trainer validates on ``data.val_samples`` items (32 in the demo configs) to stay cheap; their
mean moves by tenths of a dB between checkpoints, too little data to pick a checkpoint by. This
draws ``--samples`` items of the same validation stream (the trainer's validation seed; its first
``val_samples`` items are the trainer's), so choosing a checkpoint here never looks at a held-out
set. Prints, per checkpoint, the order-invariant PSNR gain over the blur (mean over frames) on
every ``[[data.stream]]`` table and on all items, and writes RUN/validation.json. A run trained
from a DATASET folder (``--data``) is scored on the validation samples it held out (``--val-data``
or its share of the folder), up to ``--samples`` of them.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import tomllib
import torch
from torch.utils.data import Dataset

from blur2video.checkpoints import load_model, read_metadata
from blur2video.data.dataset import StreamDataset
from blur2video.errors import Blur2VideoError
from blur2video.fileio import atomic_write_bytes
from blur2video.metrics import order_invariant_psnr
from blur2video.train_config import TrainingConfig, resolve
from blur2video.train_data import build_datasets


def stream_label(table: dict) -> str:
    source = str(table.get("source", table.get("textures", "")))
    return f"{table['kind']}:{Path(source).name if '/' in source else source}"[:40]


def validation_streams(val: Dataset, cfg: TrainingConfig, samples: int) -> tuple[torch.Tensor, list[str]]:
    """Which stream each scored item comes from, and the streams' labels. A run trained from
    streams scores ``samples`` items of its validation stream; a run trained from a DATASET folder
    scores (up to ``samples`` of) the validation samples it held out, as one stream."""
    if isinstance(val, StreamDataset):
        labels = [stream_label(t) for t in cfg.as_dict()["data"]["stream"]]
        return torch.tensor([val.stream_of(i) for i in range(len(val))]), labels
    return torch.zeros(min(samples, len(val)), dtype=torch.long), [f"dataset:{Path(val.root).name}"[:40]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the RUN folder blur2video train wrote (--out)")
    parser.add_argument(
        "--samples", type=int, default=256, help="validation items to score each checkpoint on (default: 256)"
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for torch (default: one per core)"
    )
    parser.add_argument(
        "--also", type=Path, nargs="*", default=[], help="more weights to score, e.g. bundle_model.py --average output"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folders = sorted((args.run / "checkpoints").glob("step-*"))
    if not (args.run / "config.toml").is_file() or not folders:
        parser.exit(
            2,
            f"validate_checkpoints: {args.run} is not a training run with kept checkpoints (RUN/config.toml, "
            f"RUN/checkpoints/step-*)\n",
        )
    candidates = [(f.name, f / "model.safetensors") for f in folders] + [(p.name, p) for p in args.also]
    try:
        for _, weights in candidates:  # refuse a bad file before minutes of scoring, not after
            read_metadata(weights)
        cfg = resolve(
            None, [tomllib.loads((args.run / "config.toml").read_text()), {"data": {"val_samples": args.samples}}]
        )
        _, val = build_datasets(cfg, cfg.model.frames)
    except Blur2VideoError as exc:
        parser.exit(2, f"validate_checkpoints: {exc}\n")
    streams, labels = validation_streams(val, cfg, args.samples)
    try:
        items = [val[i] for i in range(len(streams))]
    except Blur2VideoError as exc:
        parser.exit(2, f"validate_checkpoints: {exc}\n")
    blur = torch.stack([item[0] for item in items])
    frames = torch.stack([item[1] for item in items])
    base = order_invariant_psnr(blur.unsqueeze(1).expand_as(frames), frames)[0].clamp(max=100)
    rows = []
    for name, weights in candidates:
        try:
            model, _ = load_model(weights, expect_frames=frames.shape[1])
        except Blur2VideoError as exc:
            parser.exit(2, f"validate_checkpoints: {exc}\n")
        with torch.no_grad():
            pred = torch.cat([model(blur[k : k + 8]).frames.float() for k in range(0, len(blur), 8)])
        gain = (order_invariant_psnr(pred, frames)[0].clamp(max=100) - base).mean(dim=1)
        per_stream = {labels[j]: float(gain[streams == j].mean()) for j in streams.unique().tolist()}
        rows.append({"checkpoint": name, "gain_db": float(gain.mean()), "per_stream_gain_db": per_stream})
    head = ["checkpoint", "all", *labels]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print(
            f"| {r['checkpoint']} | {r['gain_db']:+.3f} | "
            + " | ".join(f"{r['per_stream_gain_db'].get(x, float('nan')):+.3f}" for x in labels)
            + " |"
        )
    counts = {labels[j]: int((streams == j).sum()) for j in streams.unique().tolist()}
    best = max(rows, key=lambda r: r["gain_db"])
    print(f"best: {best['checkpoint']} ({best['gain_db']:+.3f} dB over the blur, {len(items)} items: {counts})")
    report = {"samples": len(items), "items_per_stream": counts, "rows": rows, "best": best["checkpoint"]}
    atomic_write_bytes(args.run / "validation.json", json.dumps(report, indent=1).encode())


if __name__ == "__main__":
    main()
