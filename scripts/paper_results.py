"""The paper's analyses reproduced at a small CPU budget (issue 23), written to docs/paper-results.md.

    python scripts/paper_results.py all --out paper-runs            # everything, then the page
    python scripts/paper_results.py data --out paper-runs           # the datasets only
    python scripts/paper_results.py table5 --out paper-runs         # Table 5 (ablate, 3 seeds)
    python scripts/paper_results.py propagation --out paper-runs    # ours against Jin-style, N = 7
    python scripts/paper_results.py cross --out paper-runs          # Table 4, both directions
    python scripts/paper_results.py render --out paper-runs         # re-render the page only

Every step runs `blur2video` commands (printed as they run) and resumes: a finished run is only
re-evaluated, a finished dataset left alone, so rerunning a finished table re-renders it. Fig. 6
comes from Table 5's evaluation. Wall times of each step are kept in OUT/wall.json for the page.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from blur2video.evaluate import BLUR_ROW

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [1, 2, 3]
TEST_EVERY = 5  # every 5th photo (sorted by name) is held out for testing: 5 of the 28
LONG_SIDE = 512  # photos are shrunk so 1 degree of rotation is about 8 px of blur at FOV 60
BASE = """# Written by scripts/paper_results.py: the small budget every run of the paper's analyses shares.
[model]
preset = "fast"
frames = {frames}
{arch}
[train]
batch_size = {batch}
lr = 5e-4
lr_milestones = [0.5, 0.75]
crop = 96
workers = 0
val_fraction = 0.05
log_every = 50
checkpoint_every = 250
"""

# The paper's published figures (its Tables 4 and 5; first / middle / last frame PSNR, dB).
PAPER_TABLE5 = {
    "stn-only": (25.86, 31.20, 25.78),
    "no-itn": (26.67, 32.02, 26.58),
    "no-local-warp": (26.06, 31.78, 26.05),
    "full": (27.35, 31.98, 27.41),
    "pml": (25.98, 30.77, 25.97),
    "pml-tcl": (27.08, 31.78, 27.12),
}
# The file each step writes last: with it present, a rerun only re-renders the page.
DONE = {
    "table5": "table5-n3/table5.json",
    "propagation": "propagation/eval/report.json",
    "cross": "cross/rot3-test/report.json",
}
PAPER_NAMES = {
    "stn-only": "FTN[STN]",
    "no-itn": "FTN[STN LW]",
    "no-local-warp": "FTN[STN] ITN",
    "full": "FTN[STN LW] ITN = PML TCL PT (full)",
    "pml": "PML",
    "pml-tcl": "PML TCL",
    "no-refine": "without the refining block",
    "no-stn": "without the STN",
}
PAPER_TABLE4 = (23.383, 30.300, 23.380)  # trained on panoramas, tested on high-speed video


def run(cmd: list[str]) -> None:
    """Run one blur2video command, echoed so every figure on the page has a command to rerun."""
    print("$", shlex.join(cmd), flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    if code:
        sys.exit(f"paper_results: `{shlex.join(cmd)}` failed with exit code {code}")


def b2v(*args: str) -> list[str]:
    return [sys.executable, "-m", "blur2video", *args]


def timed(out: Path, step: str, work) -> None:
    """Run a step and add its wall time to OUT/wall.json (kept across reruns: a rerun that only
    re-evaluates does not overwrite the time the training took)."""
    path = out / "wall.json"
    wall = json.loads(path.read_text()) if path.exists() else {}
    start = time.time()
    work()
    seconds = time.time() - start
    wall[step] = max(seconds, wall.get(step, 0.0))
    path.write_text(json.dumps(wall, indent=1))


# ---------------------------------------------------------------------------------------- data


def make_photos(photos: Path, out: Path) -> None:
    if not photos.is_dir():
        sys.exit(
            f"paper_results: {photos} not found: give --photos DIR, a folder of sharp photographs "
            "(this project uses 28 from DIV2K and photographic wallpapers; DIV2K is at "
            "https://data.vision.ee.ethz.ch/cvl/DIV2K/)"
        )
    files = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for i, src in enumerate(files):
        split = "test" if i % TEST_EVERY == TEST_EVERY - 1 else "train"
        dst = out / "photos" / split / (src.stem + ".png")
        if dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        image = Image.open(src).convert("RGB")
        scale = LONG_SIDE / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        tmp = dst.with_suffix(".tmp.png")
        image.save(tmp)
        tmp.replace(dst)


def rotation_set(out: Path, name: str, split: str, frames: int, samples: int, size: int, seed: int) -> None:
    if (out / name / "index.jsonl").exists() and _rows(out / name) >= samples:
        return
    run(
        b2v(
            "synth", "rotation", "--source", str(out / "photos" / split), "--kind", "photo", "--fov", "60",
            "--max-angle", "1.5", "--frames", str(frames), "--size", str(size), "--samples", str(samples),
            "--seed", str(seed), "--out", str(out / name),
        )
    )  # fmt: skip


def video_set(out: Path, gopro: Path, name: str, first: int, last: int, size: int, crops: int) -> None:
    if (out / name / "index.jsonl").exists():
        return
    run(
        b2v(
            "synth", "video", "--source", str(gopro), "--frames", "3", "--stride", "1", "--size", str(size),
            "--crops-per-window", str(crops), "--first", str(first), "--last", str(last), "--seed", "5",
            "--out", str(out / name),
        )
    )  # fmt: skip


def _rows(dataset: Path) -> int:
    return sum(1 for line in (dataset / "index.jsonl").read_text().splitlines() if line.strip())


def make_data(args: argparse.Namespace) -> None:
    out = args.out
    make_photos(args.photos, out)
    rotation_set(out, "rot3-train", "train", 3, 1500, 128, 1)
    rotation_set(out, "rot3-test", "test", 3, 80, 192, 2)
    rotation_set(out, "rot7-train", "train", 7, 1500, 128, 3)
    rotation_set(out, "rot7-test", "test", 7, 80, 192, 4)
    if args.gopro.is_dir():
        video_set(out, args.gopro, "gopro3-train", 0, 14, 128, 125)  # frames 1-14: 12 windows
        video_set(out, args.gopro, "gopro3-test", 14, 0, 192, 16)  # frames 15-21: 5 windows
    else:
        print(
            f"paper_results: {args.gopro} not found, so no dynamic-blur sets (Table 4 needs them): give --gopro "
            "DIR, frames of a 240 fps clip (the GOPRO dataset of Nah, Kim and Lee, CVPR 2017)"
        )
    for frames, batch, arch in ((3, 8, ""), (7, 4, ""), (7, 4, 'arch = "jin"')):
        name = f"base-{frames}{'-jin' if arch else ''}.toml"
        (out / name).write_text(BASE.format(frames=frames, batch=batch, arch=arch))


# ------------------------------------------------------------------------------------ training


def table5(args: argparse.Namespace) -> None:
    seeds = [str(s) for s in SEEDS]
    run(
        b2v(
            "ablate", "--data", str(args.out / "rot3-train"), "--val-data", str(args.out / "rot3-test"),
            "--config", str(args.out / "base-3.toml"), "--steps", str(args.steps), "--seeds", *seeds,
            "--out", str(args.out / "table5-n3"),
        )
    )  # fmt: skip


def train(args: argparse.Namespace, config: str, data: str, run_dir: str, steps: int, seed: int) -> Path:
    folder = args.out / run_dir
    cmd = b2v(
        "train", "--config", str(args.out / config), "--data", str(args.out / data), "--out", str(folder),
        "--steps", str(steps), "--set", f"train.seed={seed}",
    )  # fmt: skip
    done = folder / "model.safetensors"
    if (folder / "last.json").exists():
        state = json.loads((folder / "last.json").read_text())
        if done.exists() and int(state.get("step", 0)) >= steps:
            return done
        cmd.append("--resume")
    run(cmd)
    return done


def propagation(args: argparse.Namespace) -> None:
    steps = 2 * args.steps  # N = 7 has six frames to learn
    ours = train(args, "base-7.toml", "rot7-train", "propagation/ours", steps, 1)
    jin = train(args, "base-7-jin.toml", "rot7-train", "propagation/jin", steps, 1)
    run(
        b2v(
            "eval", "--checkpoint", str(ours), str(jin), "--name", "ours", "jin", "--data",
            str(args.out / "rot7-test"), "--out", str(args.out / "propagation" / "eval"),
        )
    )  # fmt: skip


def cross(args: argparse.Namespace) -> None:
    if not (args.out / "gopro3-train").exists():
        print("paper_results: no dynamic-blur sets (see `data`); Table 4 skipped")
        return
    video = [train(args, "base-3.toml", "gopro3-train", f"cross/video/seed-{s}", args.steps, s) for s in SEEDS]
    rotation = [args.out / "table5-n3" / "full" / f"seed-{s}" / "model.safetensors" for s in SEEDS]
    names = [f"rotation-{s}" for s in SEEDS] + [f"video-{s}" for s in SEEDS]
    for test in ("gopro3-test", "rot3-test"):
        run(
            b2v(
                "eval", "--checkpoint", *map(str, rotation + video), "--name", *names, "--data",
                str(args.out / test), "--out", str(args.out / "cross" / test),
            )
        )  # fmt: skip


# ----------------------------------------------------------------------------------- analysis


def _f(x: float) -> str:
    return f"{x:.2f}"


def _row(report: dict, name: str) -> dict:
    return next(r for r in report["rows"] if r["name"] == name)


def orderings(table: dict) -> list[str]:
    """The paper's orderings, each with the gap between the means and the seeds' spread."""
    v = table["variants"]
    lines = []
    for chain, what in (
        (["stn-only", "no-itn", "full"], "FTN[STN] < FTN[STN LW] < full"),
        (["stn-only", "no-local-warp", "full"], "FTN[STN] < FTN[STN] ITN < full"),
        (["pml", "pml-tcl", "full"], "PML < PML TCL < PML TCL PT (full)"),
        (["no-refine", "full"], "without the refining block < full"),
        (["no-stn", "full"], "without the STN < full"),
    ):
        if not all(n in v for n in chain):
            continue
        parts, clear_gains, clear_losses = [], 0, 0
        for a, b in zip(chain, chain[1:], strict=False):
            gap = v[b]["psnr_mean"] - v[a]["psnr_mean"]
            spread = float(np.hypot(v[a]["psnr_sd"], v[b]["psnr_sd"]))
            clear_gains += gap > spread
            clear_losses += gap < -spread
            verdict = "beyond the seeds' spread" if abs(gap) > spread else "within the seeds' spread"
            parts.append(f"{a} -> {b}: {gap:+.2f} dB ({verdict}, spread {spread:.2f})")
        # An ordering holds only where every step gains more than the seeds' spread; a step that
        # loses by more contradicts it; anything else is a difference this budget cannot resolve.
        if clear_gains == len(chain) - 1:
            state = "holds"
        elif clear_losses:
            state = "does not hold"
        else:
            state = "not resolved (a step within the seeds' spread)"
        lines.append(f"- **{what}**: {state}. " + "; ".join(parts) + ".")
    return lines


def table5_section(out: Path) -> list[str]:
    table = json.loads((out / "table5-n3" / "table5.json").read_text())
    k = len(table["seeds"])
    lines = [
        "| variant (paper's name) | first | middle | last | mean | paper: first / middle / last |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, row in table["variants"].items():
        p, sd = row["psnr_frames"], row["psnr_frames_sd"]
        mid = len(p) // 2
        paper = " / ".join(_f(x) for x in PAPER_TABLE5[name]) if name in PAPER_TABLE5 else "-"
        lines.append(
            f"| {name} ({PAPER_NAMES.get(name, name)}) | {_f(p[0])} ± {sd[0]:.2f} | {_f(p[mid])} ± {sd[mid]:.2f} "
            f"| {_f(p[-1])} ± {sd[-1]:.2f} | **{_f(row['psnr_mean'])} ± {row['psnr_sd']:.2f}** | {paper} |"
        )
    b = table["blurred_input"]["psnr_frames"]
    lines.append(
        f"| blurred input | {_f(b[0])} | {_f(b[len(b) // 2])} | {_f(b[-1])} "
        f"| {_f(table['blurred_input']['psnr_mean'])} | - |"
    )
    lines += ["", f"Mean ± sample standard deviation over {k} seeds ({', '.join(map(str, table['seeds']))}).", ""]
    return lines + orderings(table)


def fig6_section(out: Path) -> list[str]:
    """PSNR of the first, middle and last frame against the rotation magnitude, ours (the full
    model, mean over its seeds) and the blurred input, from Table 5's evaluation."""
    report = json.loads((out / "table5-n3" / "eval" / "report.json").read_text())
    index = [json.loads(line) for line in (out / "rot3-test" / "index.jsonl").read_text().splitlines() if line]
    blur = np.array(_row(report, BLUR_ROW)["psnr_samples"], float)
    angles = np.array([r["meta"]["angle_deg"] for r in index][: len(blur)])
    edges = np.linspace(angles.min(), angles.max() + 1e-9, 6)
    which = np.digitize(angles, edges[1:-1])
    full = [r for r in report["rows"] if r["name"].startswith("full/")]
    ours = np.mean([np.array(r["psnr_samples"], float) for r in full], axis=0)
    lines = [
        "| rotation (degrees) | samples | ours: first / middle / last | blurred input: first / middle / last "
        "| gain, mean |",
        "|---|---:|---|---|---:|",
    ]
    for k in range(5):
        m = which == k
        if not m.any():
            continue
        o, b = ours[m].mean(0), blur[m].mean(0)
        mid = len(o) // 2
        lines.append(
            f"| {edges[k]:.2f}-{edges[k + 1]:.2f} | {int(m.sum())} | {_f(o[0])} / {_f(o[mid])} / {_f(o[-1])} "
            f"| {_f(b[0])} / {_f(b[mid])} / {_f(b[-1])} | {o.mean() - b.mean():+.2f} |"
        )
    _plot_fig6(out / "fig6.png", edges, which, ours, blur)
    return lines


def _plot_fig6(path: Path, edges: np.ndarray, which: np.ndarray, ours: np.ndarray, blur: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = (edges[:-1] + edges[1:]) / 2
    keep = [k for k in range(len(centres)) if (which == k).any()]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    mid = ours.shape[1] // 2
    for frame, label in ((0, "first"), (mid, "middle"), (ours.shape[1] - 1, "last")):
        ax.plot(centres[keep], [ours[which == k, frame].mean() for k in keep], marker="o", label=f"ours, {label}")
        ax.plot(centres[keep], [blur[which == k, frame].mean() for k in keep], linestyle="--", label=f"blur, {label}")
    ax.set_xlabel("rotation magnitude (degrees)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def propagation_section(out: Path) -> list[str]:
    report = json.loads((out / "propagation" / "eval" / "report.json").read_text())
    blur = np.array(_row(report, BLUR_ROW)["psnr_samples"], float)
    n = blur.shape[1]
    mid = n // 2
    lines = [
        "| distance from the middle | blurred input | ours | Jin-style |",
        "|---:|---:|---:|---:|",
    ]
    rows = {name: np.array(_row(report, name)["psnr_samples"], float) for name in ("ours", "jin")}
    for d in range(mid + 1):
        cols = [mid - d, mid + d] if d else [mid]
        lines.append(
            f"| {d} | {_f(blur[:, cols].mean())} | {_f(rows['ours'][:, cols].mean())} "
            f"| {_f(rows['jin'][:, cols].mean())} |"
        )
    lines += ["", "| correlation over the test samples, of the gain over the blur | ours | Jin-style |"]
    lines.append("|---|---:|---:|")
    stats = {name: _propagation_stats(p - blur, mid) for name, p in rows.items()}
    for key, what in (
        ("neighbour", "a frame's and its outward neighbour's (pooled over every step outward)"),
        ("middle_end", "the middle frame's and the end frames'"),
    ):
        lines.append(f"| {what} | {stats['ours'][key]:+.2f} | {stats['jin'][key]:+.2f} |")
    return lines


def _propagation_stats(gain: np.ndarray, mid: int) -> dict:
    """Pearson correlations of per-sample gains: frame k with k +- 1 outward, and the middle frame
    with the two end frames. The gain over the blur of the same frame takes out how hard each
    photo is, which would otherwise correlate every frame with every other."""
    inner, outer = [], []
    for k in range(mid):
        for side in (-1, 1):
            inner.append(gain[:, mid + side * k])
            outer.append(gain[:, mid + side * (k + 1)])
    ends = np.concatenate([gain[:, 0], gain[:, -1]])
    middle = np.concatenate([gain[:, mid], gain[:, mid]])
    return {
        "neighbour": float(np.corrcoef(np.concatenate(inner), np.concatenate(outer))[0, 1]),
        "middle_end": float(np.corrcoef(middle, ends)[0, 1]),
    }


def cross_section(out: Path) -> list[str]:
    lines = [
        "| trained on | tested on | ours: first / middle / last | blurred input: first / middle / last |",
        "|---|---|---|---|",
    ]
    for test, what in (("gopro3-test", "real dynamic blur (GoPro 15-21)"), ("rot3-test", "camera rotation")):
        path = out / "cross" / test / "report.json"
        if not path.exists():
            return ["Not run: the dynamic-blur sets need `--gopro` (see `data`)."]
        report = json.loads(path.read_text())
        blur = _row(report, BLUR_ROW)["psnr_frames"]
        mid = len(blur) // 2
        for kind in ("rotation", "video"):
            rows = [np.array(r["psnr_frames"], float) for r in report["rows"] if r["name"].startswith(kind + "-")]
            p, sd = np.mean(rows, 0), np.std(rows, 0, ddof=1)
            lines.append(
                f"| {'camera rotation' if kind == 'rotation' else 'dynamic blur (GoPro 1-14)'} | {what} "
                f"| {_f(p[0])} / {_f(p[mid])} / {_f(p[-1])} (± {sd.mean():.2f}) "
                f"| {_f(blur[0])} / {_f(blur[mid])} / {_f(blur[-1])} |"
            )
    return lines


def _training_minutes(folder: Path) -> float:
    """The training time of every run under ``folder``, from each run's own clock (its last
    metrics line): what a table cost, however many sessions it took."""
    total = 0.0
    for metrics in folder.rglob("metrics.jsonl"):
        lines = [line for line in metrics.read_text().splitlines() if line.strip()]
        total += json.loads(lines[-1]).get("wall_seconds", 0.0) if lines else 0.0
    return total / 60


def render(args: argparse.Namespace) -> None:
    out = args.out
    wall = json.loads((out / "wall.json").read_text()) if (out / "wall.json").exists() else {}
    template = (ROOT / "scripts" / "paper_results_template.md").read_text()
    sections = {
        "TABLE5": table5_section,
        "FIG6": fig6_section,
        "PROPAGATION": propagation_section,
        "CROSS": cross_section,
    }
    for key, make in sections.items():
        try:
            lines = make(out)
        except FileNotFoundError as missing:  # a step not run yet: the page says so instead of guessing
            where = Path(missing.filename).relative_to(out)
            lines = [f"Not run yet (`{where}` is missing): the command above runs it."]
        template = template.replace("{" + key + "}", "\n".join(lines))
    runs = {"table5": "table5-n3", "propagation": "propagation", "cross": "cross"}
    for step in ("data", "table5", "propagation", "cross"):
        text = f"{wall.get(step, float('nan')) / 60:.0f} min"
        if step in runs:  # interrupted and resumed, a step's last invocation holds only part of it
            trained = _training_minutes(out / runs[step])
            text = f"{trained:.0f} min of training (the runs' own clocks; the last invocation {text})"
        template = template.replace("{WALL_" + step.upper() + "}", text)
    template = template.replace("{STEPS}", str(args.steps)).replace("{STEPS7}", str(2 * args.steps))
    if (out / "fig6.png").exists():
        (ROOT / "docs" / "paper-fig6.png").write_bytes((out / "fig6.png").read_bytes())
    args.doc.write_text(template)
    print(f"wrote {args.doc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step",
        choices=["all", "data", "table5", "propagation", "cross", "render"],
        help="what to run: all, or one step (data: the datasets; render: only rewrite --doc from --out)",
    )
    parser.add_argument("--out", type=Path, default=Path("paper-runs"), help="working folder (runs, datasets)")
    parser.add_argument(
        "--photos",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "photos",
        help="sharp photographs for the camera-rotation sets (default: %(default)s)",
    )
    parser.add_argument(
        "--gopro",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "gopro",
        help="sharp 240 fps GoPro frames for the dynamic-blur sets (default: %(default)s)",
    )
    parser.add_argument("--steps", type=int, default=500, help="training steps of each N = 3 run (N = 7: twice)")
    parser.add_argument(
        "--doc", type=Path, default=ROOT / "docs" / "paper-results.md", help="the page to write (default: %(default)s)"
    )
    parser.add_argument("--force", action="store_true", help="rerun finished steps' training and evaluation")
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    steps = {"data": make_data, "table5": table5, "propagation": propagation, "cross": cross}
    for name, work in steps.items():
        if args.step not in (name, "all"):
            continue
        report = DONE.get(name)
        if report is not None and (args.out / report).exists() and not args.force:
            print(f"paper_results: {name} is finished ({report}); rendering only (--force runs it again)")
            continue
        timed(args.out, name, lambda work=work: work(args))
    if args.step in ("render", "all"):
        render(args)


if __name__ == "__main__":
    main()
