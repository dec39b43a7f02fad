"""``blur2video eval``: the paper's tables and figures for any checkpoints on any DATASET/.

One row per checkpoint plus the "blurred input" row (the blur taken as every frame): per-frame
order-invariant PSNR/SSIM (Tables 1-2) and the per-frame-max variant, the middle frame alone
(Table 3), PSNR against rotation magnitude (Fig. 6) when the dataset records it, and, where the
true motion is known (rotation blur), the end-point error of the motion each network found
(its global affine alone and with its local flow) against a zero-motion guess.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from . import progress
from .checkpoints import load_model
from .data.dataset import FolderDataset
from .errors import Blur2VideoError
from .fileio import atomic_write_bytes, to_uint8
from .geometry.warp import affine_to_flow
from .metrics import score_sequences
from .model.network import Restoration
from .motion_fit import fit_affines, fit_blur_motion, pixel_affines_to_flow
from .motion_truth import end_point_error, rotation_flows
from .runtime import keep_freed_memory, pick_device

BLUR_ROW = "blurred input"
EPE_BORDER = 8  # pixels ignored at the image border, where content enters or leaves the view


@dataclass
class RowScores:
    """Per-sample scores of one method, in each sample's chosen order."""

    psnr: list[np.ndarray] = field(default_factory=list)
    ssim: list[np.ndarray] = field(default_factory=list)
    psnr_max: list[np.ndarray] = field(default_factory=list)
    ssim_max: list[np.ndarray] = field(default_factory=list)
    epe_affine: list[np.ndarray] = field(default_factory=list)
    epe_full: list[np.ndarray] = field(default_factory=list)
    epe_blur_fit: list[np.ndarray] = field(default_factory=list)

    def add(self, scores) -> None:
        for name in ("psnr", "ssim", "psnr_max", "ssim_max"):
            getattr(self, name).extend(getattr(scores, name))


def predicted_flows(out: Restoration, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, 2, H, W) backward flows from the network's motion: the finest global affine alone,
    and that affine plus the finest local flow (upsampled to full size)."""
    theta = out.image_affines[:, :, -1] if out.image_affines is not None else out.affines[:, :, 0]
    b, n = theta.shape[:2]
    affine = affine_to_flow(theta.reshape(-1, 2, 3).float(), height, width).view(b, n, 2, height, width)
    full = affine
    if out.flows:
        finest = out.flows[0].float().flatten(0, 1)
        up = 2.0 * F.interpolate(finest, size=(height, width), mode="bilinear", align_corners=False)
        full = affine + up.view(b, n, 2, height, width)
    return affine, full


def _summary(rows: list[np.ndarray]) -> list[float]:
    return np.mean(np.stack(rows), axis=0).tolist() if rows else []


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else "inf"


def _stream_source(stream: dict, data: dict | None = None) -> str:
    """One streamed training source for the cross-dataset note: its kind, and its source, or the
    textures of a procedural-scenes stream (bundled photos unless it names others); a source
    written ``${data.KEY}`` shows the path the run's [data] table gave it."""

    def named(value: str) -> str:
        key = value[len("${data.") : -1] if value.startswith("${data.") and value.endswith("}") else ""
        return (data or {}).get(key) or value

    kind = stream.get("kind", "stream")
    if "source" in stream:
        return f"{kind} {named(stream['source'])}"
    return f"{kind} textures {named(stream.get('textures') or 'bundled photos')}"


def _check_labels(labels: list[str], checkpoints: list[str | Path]) -> None:
    """One row per label: a repeated label (or one named like the blurred-input row) would merge
    two methods' scores into one row."""
    if len(labels) != len(checkpoints):
        raise Blur2VideoError(f"{len(labels)} names for {len(checkpoints)} checkpoints; give one per checkpoint")
    seen: dict[str, str] = {BLUR_ROW: "the blurred-input row"}
    for label, path in zip(labels, checkpoints, strict=False):
        if label in seen:
            raise Blur2VideoError(
                f"{path}: its row name {label!r} is taken by {seen[label]}; give distinct names with --name"
            )
        seen[label] = str(path)


def evaluate(
    checkpoints: list[str | Path],
    data: str | Path,
    out: str | Path,
    batch_size: int = 4,
    device: str = "auto",
    samples: int | None = None,
    names: list[str] | None = None,
    quiet: bool = False,
    blur_fit: bool = True,
) -> dict:
    """Score every checkpoint on ``data``; write report.json, report.md, grid.png and the
    PSNR-against-rotation plot into ``out``. Returns the report. ``blur_fit``: also score the
    global motion fitted to the blur (blur2video.motion_fit, as restore reports it) where the
    true motion is known."""
    if batch_size < 1:
        raise Blur2VideoError(f"batch size {batch_size}: give at least 1")
    if samples is not None and samples < 1:
        raise Blur2VideoError(f"samples {samples}: give at least 1 (or none for the whole dataset)")
    labels = (
        list(names)
        if names
        else [
            Path(c).stem if Path(c).stem not in ("model", "best") else f"{Path(c).parent.name}/{Path(c).stem}"
            for c in checkpoints
        ]
    )
    _check_labels(labels, checkpoints)
    keep_freed_memory()  # evaluation moves large tensors (see blur2video.runtime)
    dev = pick_device(device)
    dataset = FolderDataset(data)
    if samples is not None:
        dataset.records = dataset.records[:samples]
    frames = dataset.frames
    metas = [dataset.meta(i) for i in range(len(dataset))]
    angles = np.array([m.get("angle_deg", np.nan) for m in metas], dtype=float)
    models = [load_model(c, dev, expect_frames=frames) for c in checkpoints]
    rows = {label: RowScores() for label in [BLUR_ROW, *labels]}
    zero_epe: list[np.ndarray] = []
    grid: list[tuple] = []
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=0)
    index = 0
    with torch.inference_mode(), progress.track(len(loader), "eval", "batch", enabled=not quiet) as bar:
        for blur, target in loader:
            b, n, _, h, w = target.shape
            truths = [rotation_flows(metas[index + i], n, h, w) for i in range(b)]
            rows[BLUR_ROW].add(score_sequences(blur.unsqueeze(1).expand_as(target), target))
            preds = []
            for label, (model, _) in zip(labels, models, strict=False):
                result = model(blur.to(dev))
                pred = result.frames.float().cpu()
                preds.append(pred)
                scores = score_sequences(pred, target)
                rows[label].add(scores)
                affine, full = predicted_flows(result, h, w)
                for i, truth in enumerate(truths):
                    if truth is None:
                        continue
                    order = truth.flip(0) if scores.reversed[i] else truth
                    rows[label].epe_affine.append(end_point_error(affine[i].cpu(), order, EPE_BORDER).numpy())
                    rows[label].epe_full.append(end_point_error(full[i].cpu(), order, EPE_BORDER).numpy())
                    if blur_fit:
                        fit = fit_blur_motion(blur[i], pred[i, n // 2], fit_affines(full[i].cpu()))
                        fitted = pixel_affines_to_flow(fit.affines, h, w)
                        rows[label].epe_blur_fit.append(end_point_error(fitted, order, EPE_BORDER).numpy())
            for truth in truths:
                if truth is not None:
                    zero_epe.append(end_point_error(torch.zeros_like(truth), truth, EPE_BORDER).numpy())
            if len(grid) < 3:
                grid += [(blur[i], target[i], [p[i] for p in preds]) for i in range(min(b, 3 - len(grid)))]
            index += b
            bar.update(1)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = _report(dataset, checkpoints, labels, models, rows, zero_epe, angles, frames)
    if np.isfinite(angles).any():
        report["by_angle"] = _by_angle(rows, angles)
        _plot_by_angle(out / "psnr_vs_rotation.png", report["by_angle"])
    else:
        report["notes"].append("the dataset records no rotation magnitudes (angle_deg): PSNR against blur size skipped")
    _write_grid(out / "grid.png", grid, labels)
    atomic_write_bytes(out / "report.json", json.dumps(report, indent=1).encode())
    atomic_write_bytes(out / "report.md", render_markdown(report).encode())
    return report


def _report(dataset, checkpoints, labels, models, rows, zero_epe, angles, frames) -> dict:
    mid = frames // 2
    notes = []
    table = []
    for label, scores in rows.items():
        psnr = np.stack(scores.psnr)
        entry = {
            "name": label,
            "psnr_frames": [_finite(x) for x in psnr.mean(0).tolist()],
            "ssim_frames": _summary(scores.ssim),
            "psnr_mean": _finite(float(psnr.mean())),
            "ssim_mean": float(np.mean(np.stack(scores.ssim))),
            "psnr_max_frames": [_finite(x) for x in _summary(scores.psnr_max)],
            "ssim_max_frames": _summary(scores.ssim_max),
            "middle_psnr": _finite(float(psnr[:, mid].mean())),
            "middle_ssim": float(np.stack(scores.ssim)[:, mid].mean()),
            # per sample and frame, in the sample's chosen order: for analyses across frames, such
            # as how one frame's error follows its neighbour's (error propagation)
            "psnr_samples": [[_finite(x) for x in row] for row in psnr.tolist()],
        }
        if scores.epe_affine:
            entry["epe_affine_frames"] = _summary(scores.epe_affine)
            entry["epe_affine_flow_frames"] = _summary(scores.epe_full)
        if scores.epe_blur_fit:
            entry["epe_blur_fit_frames"] = _summary(scores.epe_blur_fit)
        table.append(entry)
    for label, (path, (_, meta)) in zip(labels, zip(checkpoints, models, strict=False), strict=False):
        trained = json.loads(meta.get("train_config", "{}")).get("data", {})
        source = (
            trained.get("path") or "; ".join(_stream_source(s, trained) for s in trained.get("stream", [])) or "unknown"
        )
        if trained.get("path") and Path(trained["path"]).resolve() == dataset.root.resolve():
            continue
        notes.append(f"cross-dataset: {label} ({path}) was trained on {source}, evaluated on {dataset.root}")
    return {
        "dataset": str(dataset.root),
        "samples": len(dataset),
        "frames": frames,
        "order": "per sample, the order (forward or reversed) with the higher mean PSNR; *_max_frames: each frame "
        "its better order",
        "rows": table,
        "zero_motion_epe_frames": _summary(zero_epe),
        "epe_border_px": EPE_BORDER,
        "angle_range_deg": [float(np.nanmin(angles)), float(np.nanmax(angles))] if np.isfinite(angles).any() else None,
        "notes": notes,
    }


def _by_angle(rows: dict[str, RowScores], angles: np.ndarray, bins: int = 5) -> dict:
    edges = np.linspace(np.nanmin(angles), np.nanmax(angles) + 1e-9, bins + 1)
    which = np.digitize(angles, edges[1:-1])
    table = {"edges_deg": edges.tolist(), "counts": [int((which == k).sum()) for k in range(bins)], "psnr": {}}
    for label, scores in rows.items():
        per_sample = np.stack(scores.psnr).mean(1)
        table["psnr"][label] = [
            float(per_sample[which == k].mean()) if (which == k).any() else None for k in range(bins)
        ]
    return table


def _plot_by_angle(path: Path, by_angle: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.array(by_angle["edges_deg"])
    centres = (edges[:-1] + edges[1:]) / 2
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label, values in by_angle["psnr"].items():
        v = np.array([np.nan if x is None else x for x in values], float)
        ax.plot(centres, v, marker="o", label=label, linestyle="--" if label == BLUR_ROW else "-")
    ax.set_xlabel("rotation magnitude (degrees)")
    ax.set_ylabel("PSNR (dB), mean over frames")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _write_grid(path: Path, grid: list[tuple], labels: list[str]) -> None:
    """Per sample: input, then ground truth and each method's first, middle and last frames."""
    from PIL import Image

    rows = []
    for blur, target, preds in grid:
        n = target.shape[0]
        pick = [0, n // 2, n - 1]
        tiles = [blur] + [target[j] for j in pick] + [p[j].clamp(0, 1) for p in preds for j in pick]
        rows.append(torch.cat([F.pad(t, (2, 2, 2, 2), value=1.0) for t in tiles], dim=-1))
    if rows:
        image = torch.cat(rows, dim=-2).permute(1, 2, 0).numpy()
        Image.fromarray(to_uint8(image)).save(path)


def _fmt(x) -> str:
    return "inf" if x == "inf" else f"{x:.2f}"


def render_markdown(report: dict) -> str:
    n = report["frames"]
    lines = [
        f"# Evaluation on {report['dataset']} ({report['samples']} samples, N={n})",
        "",
        f"Order: {report['order']}.",
        "",
    ]
    head = "| method | " + " | ".join(f"frame {j}" for j in range(n)) + " | mean |"
    sep = "|---|" + "---:|" * (n + 1)
    for title, key, mean in (
        ("PSNR (dB) per frame", "psnr_frames", "psnr_mean"),
        ("SSIM per frame", "ssim_frames", "ssim_mean"),
    ):
        lines += [f"## {title}", "", head, sep]
        for r in report["rows"]:
            lines.append(
                f"| {r['name']} | "
                + " | ".join(_fmt(x) if key == "psnr_frames" else f"{x:.4f}" for x in r[key])
                + f" | {_fmt(r[mean]) if key == 'psnr_frames' else format(r[mean], '.4f')} |"
            )
        lines.append("")
    lines += [
        "## First, middle and last frames",
        "",
        "| method | first PSNR | middle PSNR | last PSNR | first SSIM | middle SSIM | last SSIM |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        p, s = r["psnr_frames"], r["ssim_frames"]
        lines.append(
            f"| {r['name']} | {_fmt(p[0])} | {_fmt(p[n // 2])} | {_fmt(p[-1])} | {s[0]:.4f} | {s[n // 2]:.4f} | "
            f"{s[-1]:.4f} |"
        )
    lines += [
        "",
        "## Per-frame-max variant (each frame takes its better order)",
        "",
        head.replace("| mean |", "|"),
        sep[:-5],
    ]
    for r in report["rows"]:
        lines.append(f"| {r['name']} | " + " | ".join(_fmt(x) for x in r["psnr_max_frames"]) + " |")
    lines += ["", "## Middle frame (single-image deblurring)", "", "| method | PSNR | SSIM |", "|---|---:|---:|"]
    lines += [f"| {r['name']} | {_fmt(r['middle_psnr'])} | {r['middle_ssim']:.4f} |" for r in report["rows"]]
    if report["zero_motion_epe_frames"]:
        lines += [
            "",
            f"## Motion end-point error (pixels, mean per frame, {report['epe_border_px']}-px border ignored)",
            "",
            head,
            sep,
        ]
        lines.append(
            "| zero motion | "
            + " | ".join(f"{x:.2f}" for x in report["zero_motion_epe_frames"])
            + f" | {np.mean(report['zero_motion_epe_frames']):.2f} |"
        )
        for r in report["rows"]:
            for key, what in (
                ("epe_affine_frames", "affine"),
                ("epe_affine_flow_frames", "affine + local flow"),
                ("epe_blur_fit_frames", "global motion fitted to the blur"),
            ):
                if key in r:
                    lines.append(
                        f"| {r['name']} ({what}) | "
                        + " | ".join(f"{x:.2f}" for x in r[key])
                        + f" | {np.mean(r[key]):.2f} |"
                    )
    if "by_angle" in report:
        t = report["by_angle"]
        lines += [
            "",
            "## PSNR against rotation magnitude (psnr_vs_rotation.png)",
            "",
            "| method | "
            + " | ".join(
                f"{a:.1f}-{b:.1f} deg (n={c})"
                for a, b, c in zip(t["edges_deg"][:-1], t["edges_deg"][1:], t["counts"], strict=False)
            )
            + " |",
            "|---|" + "---:|" * len(t["counts"]),
        ]
        for label, values in t["psnr"].items():
            lines.append(f"| {label} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in values) + " |")
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"
