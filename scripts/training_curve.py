"""Held-out PSNR against training time for every checkpoint a run kept (experiments/README.md).

    python scripts/training_curve.py --run runs/demo --run runs/jin --data heldout/photo-1deg \\
        --out docs/training_curve.png
    python scripts/training_curve.py --previous docs/training_curve.json --run runs/stage3@124.8 ...

Each checkpoint is evaluated with ``blur2video eval`` machinery on the held-out set; the plot shows
the gain over the blurred input of the first/last frames (mean of the two) and of the middle frame
against the training wall time recorded in the checkpoint's state, one line per run.
``--run PATH@MINUTES`` places a warm-started run after the training time of the stages before it;
``--previous`` keeps the curves of an earlier plot's JSON (runs whose checkpoints are gone).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from blur2video.evaluate import BLUR_ROW, evaluate  # noqa: E402


def curve(run: Path, data: str, samples: int | None, offset_seconds: float = 0.0) -> list[dict]:
    points = []
    for folder in sorted((run / "checkpoints").glob("step-*")):
        state = json.loads((folder / "state.json").read_text())
        with tempfile.TemporaryDirectory() as tmp:
            report = evaluate([folder / "model.safetensors"], data, tmp, samples=samples, names=["model"], quiet=True)
        rows = {r["name"]: r for r in report["rows"]}
        n = len(rows["model"]["psnr_frames"])
        gain = [m - b for m, b in zip(rows["model"]["psnr_frames"], rows[BLUR_ROW]["psnr_frames"], strict=False)]
        points.append(
            {
                "step": state["step"],
                "wall_seconds": state["wall_seconds"],
                "gain_ends_db": (gain[0] + gain[-1]) / 2,
                "gain_middle_db": gain[n // 2],
                "gain_mean_db": sum(gain) / n,
                "psnr_mean": rows["model"]["psnr_mean"],
                "offset_seconds": offset_seconds,
            }
        )
        print(run.name, points[-1])
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", action="append", default=[], help="RUN folder, optionally @MINUTES of earlier training"
    )
    parser.add_argument("--previous", type=Path, help="an earlier plot's JSON whose curves are drawn too")
    parser.add_argument("--data", required=True, help="held-out DATASET folder to evaluate on")
    parser.add_argument("--samples", type=int, default=None, help="only its first S samples (default: all)")
    parser.add_argument("--out", type=Path, required=True, help="the plot (.png; its data beside it as .json)")
    args = parser.parse_args()
    curves = json.loads(args.previous.read_text()) if args.previous else {}
    for spec in args.run or []:
        path, _, minutes = spec.partition("@")
        curves[Path(path).name] = curve(Path(path), args.data, args.samples, 60 * float(minutes or 0))
    # one colour per run, the same in both panels; end and middle frames apart, so the curves stay readable
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
    colours = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20")  # past 10 runs tab10 would repeat a colour
    for i, (name, points) in enumerate(curves.items()):
        minutes = [(p["wall_seconds"] + p.get("offset_seconds", 0.0)) / 60 for p in points]
        for ax, key in zip(axes, ("gain_ends_db", "gain_middle_db"), strict=False):
            ax.plot(
                minutes, [p[key] for p in points], marker="o", markersize=3, color=colours(i % colours.N), label=name
            )
    for ax, title in zip(axes, ("first and last frames", "middle frame"), strict=False):
        ax.axhline(0, color="gray", linewidth=0.8)
        ax.set_xlabel("training wall time (minutes, 2-core CPU)")
        ax.set_title(f"held-out {Path(args.data).name}: {title}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("PSNR gain over the blur (dB)")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    args.out.with_suffix(".json").write_text(json.dumps(curves, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
