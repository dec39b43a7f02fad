"""Rotation-blur synthesis speed against py360convert, measured in the same run:

- render: renders/s of 256x256 views from a 2048x1024 panorama, ours vs py360convert.e2p for the
  very same views;
- whole: the whole command, start-up and PNG writing included: ``blur2video synth rotation`` in
  a fresh process against benchmarks/_py360_synth.py (the same views with py360convert, in a
  fresh process too), repeated and interleaved, each repeat's ratio stated; ``--before SRC ...``
  adds other blur2video source trees as rows (``git archive main src | tar -x -C /tmp/before``,
  then ``--before /tmp/before/src``);
- workers: whole samples/s in process, by ``--workers``.

    python benchmarks/synth_rotation.py [--views 64] [--samples 24] [--repeats 3] [--tables render whole workers]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _peak import best_of
from PIL import Image

from blur2video.geometry import EquirectImage, PinholeCamera, interpolate_orientations, random_motion, view_orientation
from blur2video.runtime import keep_freed_memory
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationSettings

HERE = Path(__file__).resolve().parent
SHARED_PANO = HERE.parents[1] / "shared" / "data" / "panoramas" / "street.jpg"


def load_panorama() -> np.ndarray:
    """The real street panorama at 2048x1024 when present, else a textured synthetic one."""
    if SHARED_PANO.exists():
        img = Image.open(SHARED_PANO).convert("RGB").resize((2048, 1024), Image.BOX)
        return np.asarray(img, dtype=np.float32) / 255.0
    rng = np.random.default_rng(0)
    return rng.random((1024, 2048, 3), dtype=np.float32)


def render_table(equi: np.ndarray, views: int) -> None:
    import py360convert

    pano = EquirectImage(equi)
    cam = PinholeCamera(256, 256, 60.0)
    rng = np.random.default_rng(0)
    motion, _ = random_motion(rng, 5.0)
    orients = interpolate_orientations(view_orientation(20.0, 10.0), motion, views)

    ours = best_of(lambda: pano.render(orients, cam), 5) / views
    yaw_pitch = [tuple(r.as_euler("YXZ", degrees=True)[:2]) for r in orients][:8]
    # py360convert's pixel-centre convention differs from ours by (W-1)/W in focal: same views
    fov_peer = math.degrees(2 * math.atan(128.0 / cam.focal * 255.0 / 256.0))
    peer = best_of(lambda: [py360convert.e2p(equi, fov_peer, y, p, (256, 256)) for y, p in yaw_pitch], 2) / len(
        yaw_pitch
    )
    print("| renderer (256x256 view from 2048x1024) | ms / render | renders / s | vs py360convert |")
    print("|---|---:|---:|---:|")
    print(f"| py360convert.e2p (bilinear) | {peer * 1e3:.2f} | {1 / peer:.0f} | 1.0x |")
    print(
        f"| blur2video EquirectImage.render ({views} views / call) | {ours * 1e3:.2f} | {1 / ours:.0f} "
        f"| {peer / ours:.1f}x |"
    )
    print()


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of one command in a fresh process, its start-up included; its output is
    kept back unless it fails. On a shared machine the CPU seconds (user + system, the process and
    its children) move less than the wall ones: other processes take turns on the cores, not work."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _row(name: str, runs: list[tuple[float, float]], peer: list[tuple[float, float]]) -> str:
    """One table row: wall and CPU seconds (lowest-highest) and each run's ratio to the peer's run
    of the same repeat, by wall and by CPU time."""
    cells = [name]
    for k in (0, 1):
        values = [r[k] for r in runs]
        ratios = [p[k] / r[k] for p, r in zip(peer, runs, strict=True)]
        cells += [f"{min(values):.2f}-{max(values):.2f}", ", ".join(f"{x:.1f}x" for x in ratios)]
    return "| " + " | ".join(cells) + " |"


def whole_table(src: Path, tmp: Path, samples: int, repeats: int, before: list[str]) -> None:
    """The whole command, ours (and the ``before`` trees) against the py360convert peer, interleaved."""
    trees = {"blur2video synth rotation (this tree)": str(HERE.parent / "src")}
    trees.update((f"blur2video synth rotation ({tree})", tree) for tree in before)
    flags = ["--kind", "panorama", "--samples", str(samples), "--frames", "7", "--size", "256", "--max-angle", "5"]
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in [*trees, "py360convert peer"]}
    for k in range(repeats):
        ours_out = None
        for i, (name, tree) in enumerate(trees.items()):
            out = tmp / f"whole-{k}-{i}"
            env = {**os.environ, "PYTHONPATH": tree}
            cmd = [sys.executable, "-m", "blur2video", "synth", "rotation", "--source", str(src), "--out", str(out)]
            timings[name].append(_timed([*cmd, *flags], env))
            ours_out = ours_out or out
        peer = [
            sys.executable,
            str(HERE / "_py360_synth.py"),
            str(src / "pano.png"),
            str(ours_out),
            str(tmp / f"peer-{k}"),
        ]
        timings["py360convert peer"].append(_timed(peer))
    print(
        f"| whole command: {samples} samples, N=7, 256x256, max angle 5 deg ({repeats} runs) | wall s "
        "| vs py360convert (wall), each run | CPU s | vs py360convert (CPU), each run |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, runs in timings.items():
        print(_row(name, runs, timings["py360convert peer"]))
    print()


def workers_table(src: Path, tmp: Path, samples: int) -> None:
    settings = RotationSettings(frames=7, size=256, max_angle_deg=5.0)
    print("| whole samples (N=7, 256x256, max angle 5 deg, PNG writes) | samples / s | vs 1 worker |")
    print("|---|---:|---:|")
    base = None
    for workers in (1, 2):
        out = tmp / f"out{workers}"
        t = time.perf_counter()
        synthesize_rotation(src, out, samples, settings, workers=workers)
        rate = samples / (time.perf_counter() - t)
        base = base or rate
        print(f"| --workers {workers} | {rate:.2f} | {rate / base:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=64, help="views per batched render (one sample's renders)")
    parser.add_argument("--samples", type=int, default=24, help="samples for the whole-command and workers tables")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each whole command, interleaved")
    parser.add_argument(
        "--before",
        nargs="*",
        default=[],
        help="other blur2video source trees (their src/) timed as rows of the whole table",
    )
    parser.add_argument(
        "--tables", nargs="+", choices=["render", "whole", "workers"], default=["render", "whole", "workers"]
    )
    args = parser.parse_args()
    keep_freed_memory()  # as the CLI does (blur2video.runtime)

    equi = load_panorama()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    print()
    if "render" in args.tables:
        render_table(equi, args.views)
    tmp = Path(tempfile.mkdtemp())
    try:
        src = tmp / "src"
        src.mkdir()
        Image.fromarray((equi * 255).astype(np.uint8)).save(src / "pano.png")
        if "whole" in args.tables:
            whole_table(src, tmp, args.samples, args.repeats, args.before)
        if "workers" in args.tables:
            workers_table(src, tmp, args.samples)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
