"""``blur2video ablate``: train every Table-5 variant with the same budget and seed, evaluate each,
and write the Table-5 report.

The variants are listed here explicitly (no folder scanning); ``configs/ablation-NAME.toml`` holds
the same switches for training one variant by hand, and a test keeps the two in step.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .data.io import atomic_write_bytes
from .errors import Blur2VideoError
from .evaluate import BLUR_ROW, evaluate
from .train_config import merge, resolve

VARIANTS: dict[str, dict] = {
    # network components (losses as in "full")
    "no-stn": {"model": {"stn": False}},
    "no-local-warp": {"model": {"local_warp": False}},
    "no-itn": {"model": {"itn": False}},
    "no-refine": {"model": {"refine": False}},
    # loss terms (network as in "full")
    "pml": {"loss": {"consistency": False, "penalty": False}},
    "pml-tcl": {"loss": {"penalty": False}},
    "full": {},
}


def variant_config(base: dict, name: str, steps: int, data: str, val_data: str | None) -> dict:
    cfg = merge(base, VARIANTS[name], f"variant {name}")
    cfg = merge(
        cfg, {"train": {"steps": steps}, "data": {"path": data, "val_path": val_data or "", "stream": []}}, "ablate"
    )
    return cfg


def _train_variant(args: tuple) -> str:
    cfg, out, device, index = args
    from .train import train

    if device == "cuda-round-robin":
        import torch

        device = f"cuda:{index % max(1, torch.cuda.device_count())}"
    resume = (Path(out) / "last.json").exists()  # a rerun continues unfinished variants
    return str(train(cfg, out, device=device, resume=resume, quiet=True))


def ablate(
    data: str,
    out: str | Path,
    config: str | None = None,
    steps: int = 1000,
    val_data: str | None = None,
    variants: list[str] | None = None,
    jobs: int = 1,
    device: str = "auto",
    eval_samples: int | None = None,
) -> dict:
    """Train and evaluate each variant into ``out/NAME/``; write ``out/table5.md`` and ``.json``."""
    names = variants or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise Blur2VideoError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise Blur2VideoError(
            f"variant(s) {', '.join(twice)} given twice; each trains into its own folder, so give each once"
        )
    if steps < 1:
        raise Blur2VideoError(
            f"steps {steps}: give at least 1 (0 or less would train the config's full epochs instead)"
        )
    if jobs < 1:
        raise Blur2VideoError(f"jobs {jobs}: give at least 1")
    if eval_samples is not None and eval_samples < 1:
        raise Blur2VideoError(f"eval samples {eval_samples}: give at least 1 (or none for the whole dataset)")
    base = resolve(config, [])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if jobs > 1 and device in ("auto", "cuda"):
        device = "cuda-round-robin"
    work = [
        (variant_config(copy.deepcopy(base), n, steps, data, val_data), str(out / n), device, i)
        for i, n in enumerate(names)
    ]
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            models = list(pool.map(_train_variant, work))
    else:
        models = [_train_variant(w) for w in work]
    eval_device = "auto" if device == "cuda-round-robin" else device
    report = evaluate(
        models, val_data or data, out / "eval", device=eval_device, samples=eval_samples, names=names, quiet=True
    )
    rows = {r["name"]: r for r in report["rows"]}
    table = {
        "data": data,
        "val_data": val_data or data,
        "steps": steps,
        "seed": base["train"]["seed"],
        "variants": {
            n: {
                "overrides": VARIANTS[n],
                "psnr_mean": rows[n]["psnr_mean"],
                "ssim_mean": rows[n]["ssim_mean"],
                "psnr_frames": rows[n]["psnr_frames"],
            }
            for n in names
        },
        "blurred_input": {"psnr_mean": rows[BLUR_ROW]["psnr_mean"], "ssim_mean": rows[BLUR_ROW]["ssim_mean"]},
    }
    atomic_write_bytes(out / "table5.json", json.dumps(table, indent=1).encode())
    atomic_write_bytes(out / "table5.md", _markdown(table).encode())
    return table


def _fmt(x) -> str:
    return x if isinstance(x, str) else f"{x:.2f}"


def _markdown(table: dict) -> str:
    lines = [
        f"# Ablations (paper Table 5): {table['steps']} steps each, seed {table['seed']}",
        "",
        f"Trained on {table['data']}, evaluated on {table['val_data']} (order-invariant, mean over frames).",
        "",
        "| variant | switches | PSNR (dB) | SSIM | first | middle | last |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in table["variants"].items():
        p = row["psnr_frames"]
        switches = (
            ", ".join(f"{s}.{k}={str(v).lower()}" for s, kv in row["overrides"].items() for k, v in kv.items())
            or "all on"
        )
        lines.append(
            f"| {name} | {switches} | {_fmt(row['psnr_mean'])} | {row['ssim_mean']:.4f} | {_fmt(p[0])} | {_fmt(p[len(p) // 2])} | {_fmt(p[-1])} |"
        )
    b = table["blurred_input"]
    lines.append(f"| blurred input | - | {_fmt(b['psnr_mean'])} | {b['ssim_mean']:.4f} | | | |")
    return "\n".join(lines) + "\n"
