"""``blur2video ablate``: train every Table-5 variant with the same budget and seed, evaluate each,
and write the Table-5 report.

The variants are listed here explicitly (no folder scanning); to train one by hand, give its
switches with ``--set`` (e.g. ``--set model.stn=false``).
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from . import progress
from .data.dataset import FolderDataset
from .errors import Blur2VideoError
from .evaluate import BLUR_ROW, evaluate
from .fileio import atomic_write_bytes
from .train_config import TrainingConfig, merge, read_config_file, resolve

VARIANTS: dict[str, dict] = {
    # network components (losses as in "full")
    "no-stn": {"model": {"stn": False}},
    "no-local-warp": {"model": {"local_warp": False}},
    "no-itn": {"model": {"itn": False}},
    "no-refine": {"model": {"refine": False}},
    "stn-only": {"model": {"local_warp": False, "itn": False}},  # the paper's FTN[STN]: no LW, no ITN
    # loss terms (network as in "full")
    "pml": {"loss": {"consistency": False, "penalty": False}},
    "pml-tcl": {"loss": {"penalty": False}},
    "full": {},
}


def variant_config(
    base: TrainingConfig, name: str, steps: int, data: str, val_data: str | None, seed: int | None = None
) -> TrainingConfig:
    """``base`` with variant ``name``'s switches, trained ``steps`` steps (from ``seed`` where given)
    on the DATASET ``data``; the merge is on the plain tables, then typed again."""
    tables = merge(base.as_dict(), VARIANTS[name], f"variant {name}")
    train = {"steps": steps} if seed is None else {"steps": steps, "seed": seed}
    tables = merge(tables, {"train": train, "data": {"path": data, "val_path": val_data or "", "stream": []}}, "ablate")
    return TrainingConfig.from_dict(tables)


def _train_variant(args: tuple) -> str:
    """Train one variant; its own progress shows only when variants train one at a time (parallel
    ones would draw over each other)."""
    cfg, out, device, index, label, quiet = args
    from .train import train

    if device == "cuda-round-robin":
        import torch

        device = f"cuda:{index % max(1, torch.cuda.device_count())}"
    resume = (Path(out) / "last.json").exists()  # a rerun continues unfinished variants
    return str(train(cfg, out, device=device, resume=resume, quiet=quiet, desc=f"train {label}"))


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
    seeds: list[int] | None = None,
) -> dict:
    """Train and evaluate each variant into ``out/NAME/`` (``out/NAME/seed-S/`` with ``seeds``);
    write ``out/table5.md`` and ``.json``.

    With several seeds each variant's row is the mean over its seeds with the sample standard
    deviation beside it: at a small budget two variants differ by less than one seed from
    another, and a table of single runs would rank them by chance."""
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
    if seeds is not None and (not seeds or len(set(seeds)) != len(seeds)):
        raise Blur2VideoError(f"seeds {seeds}: give one or more distinct seeds")
    # N from the DATASET where the config sets none; the DATASET takes the place of a preset's streams
    base = resolve(config, [{"data": {"path": data, "stream": []}}])
    _check_data(base, config, data, val_data)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if jobs > 1 and device in ("auto", "cuda"):
        device = "cuda-round-robin"
    runs = [(n, None, n) for n in names] if seeds is None else [(n, s, f"{n}/seed-{s}") for n in names for s in seeds]
    work = [
        (variant_config(base, n, steps, data, val_data, s), str(out / label), device, i, label, jobs > 1)
        for i, (n, s, label) in enumerate(runs)
    ]
    with progress.track(len(work), "ablate", "variant") as bar:
        if jobs > 1:
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_train_variant, w) for w in work]
                for _ in as_completed(futures):
                    bar.update(1)
                models = [f.result() for f in futures]
        else:
            models = []
            for w in work:
                models.append(_train_variant(w))
                bar.update(1)
    eval_device = "auto" if device == "cuda-round-robin" else device
    labels = [label for _, _, label in runs]
    report = evaluate(models, val_data or data, out / "eval", device=eval_device, samples=eval_samples, names=labels)
    rows = {r["name"]: r for r in report["rows"]}
    table = {
        "data": data,
        "val_data": val_data or data,
        "steps": steps,
        "seeds": seeds or [base.train.seed],
        "variants": {n: _variant_row(n, [rows[label] for m, _, label in runs if m == n]) for n in names},
        "blurred_input": {
            "psnr_mean": rows[BLUR_ROW]["psnr_mean"],
            "ssim_mean": rows[BLUR_ROW]["ssim_mean"],
            "psnr_frames": rows[BLUR_ROW]["psnr_frames"],
        },
    }
    atomic_write_bytes(out / "table5.json", json.dumps(table, indent=1).encode())
    atomic_write_bytes(out / "table5.md", _markdown(table).encode())
    return table


def _check_data(base: TrainingConfig, config: str | None, data: str, val_data: str | None) -> None:
    """The DATASETs fit the variants' N and crop, said in ablate's terms (it has no --frames or
    --crop: training would name those flags, and fail only after the first variant's start-up)."""
    tables = read_config_file(config) if config is not None else {}
    frames, crop = base.model.frames, base.train.crop
    source = f"model.frames of {config}" if "frames" in tables.get("model", {}) else f"the N of --data {data}"
    for flag, path in (("--data", data), ("--val-data", val_data)):
        if path is not None and (n := FolderDataset(path).frames) != frames:
            raise Blur2VideoError(
                f"{flag} {path}: its samples have N={n} frames but the variants predict {frames} ({source}); "
                f"give DATASETs of {frames} frames"
            )
    size = FolderDataset(data).sample_size()
    if crop and size is not None and crop > min(size[1:]):
        raise Blur2VideoError(
            f"{config}: train.crop = {crop} is larger than the {size[1]}x{size[2]} samples of --data {data}; "
            f"set train.crop to {min(size[1:])} or less in the config (0: whole samples)"
        )


def _variant_row(name: str, rows: list[dict]) -> dict:
    """One variant over its seeds: means, sample standard deviations (0 for one seed) and each
    seed's own figures. inf (a perfect reconstruction) propagates as it is."""

    def stats(values: list) -> tuple[float, float]:
        x = np.array([float(v) for v in values])
        return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0

    frames = len(rows[0]["psnr_frames"])
    psnr, psnr_sd = stats([r["psnr_mean"] for r in rows])
    ssim, ssim_sd = stats([r["ssim_mean"] for r in rows])
    per_frame = [stats([r["psnr_frames"][k] for r in rows]) for k in range(frames)]
    return {
        "overrides": VARIANTS[name],
        "psnr_mean": psnr,
        "psnr_sd": psnr_sd,
        "ssim_mean": ssim,
        "ssim_sd": ssim_sd,
        "psnr_frames": [m for m, _ in per_frame],
        "psnr_frames_sd": [sd for _, sd in per_frame],
        "per_seed_psnr_mean": [r["psnr_mean"] for r in rows],
    }


def _fmt(x) -> str:
    return x if isinstance(x, str) else f"{x:.2f}"


def _pm(mean: float, sd: float, seeds: int) -> str:
    return _fmt(mean) if seeds < 2 else f"{_fmt(mean)} ± {sd:.2f}"


def _markdown(table: dict) -> str:
    seeds = table["seeds"]
    lines = [
        f"# Ablations (paper Table 5): {table['steps']} steps each, seed{'s' if len(seeds) > 1 else ''} "
        + ", ".join(str(s) for s in seeds),
        "",
        f"Trained on {table['data']}, evaluated on {table['val_data']} (order-invariant, mean over frames"
        + ("; mean ± sample standard deviation over the seeds)." if len(seeds) > 1 else ")."),
        "",
        "| variant | switches | PSNR (dB) | SSIM | first | middle | last |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in table["variants"].items():
        p, sd, k = row["psnr_frames"], row["psnr_frames_sd"], len(seeds)
        switches = (
            ", ".join(f"{s}.{k}={str(v).lower()}" for s, kv in row["overrides"].items() for k, v in kv.items())
            or "all on"
        )
        lines.append(
            f"| {name} | {switches} | {_pm(row['psnr_mean'], row['psnr_sd'], k)} | {row['ssim_mean']:.4f} "
            f"| {_pm(p[0], sd[0], k)} | {_pm(p[len(p) // 2], sd[len(p) // 2], k)} | {_pm(p[-1], sd[-1], k)} |"
        )
    b = table["blurred_input"]
    bp = b["psnr_frames"]
    lines.append(
        f"| blurred input | - | {_fmt(b['psnr_mean'])} | {b['ssim_mean']:.4f} "
        f"| {_fmt(bp[0])} | {_fmt(bp[len(bp) // 2])} | {_fmt(bp[-1])} |"
    )
    return "\n".join(lines) + "\n"
