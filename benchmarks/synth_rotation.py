"""Rotation-blur synthesis speed against py360convert, measured in the same run:

- render: renders/s of 256x256 views from a 2048x1024 panorama, ours vs py360convert.e2p for the
  very same views;
- whole: the whole command, start-up and PNG writing included: ``blur2video synth rotation`` in
  a fresh process against benchmarks/_py360_synth.py (the same views with py360convert, in a
  fresh process too), repeated and interleaved, each repeat's ratio stated; ``--before SRC ...``
  adds other blur2video source trees as rows (``git archive main src | tar -x -C /tmp/before``,
  then ``--before /tmp/before/src``);
- parts: where the whole command's CPU seconds go, PNG encoding ours against Pillow's;
- workers: whole samples/s in process, by ``--workers``;
- streams: ms a sample as training's camera-rotation streams make them (N=7, 128 px, 1.5 degrees,
  no files), photos and the panorama; for another tree run the script with
  ``PYTHONPATH=/tmp/before/src``.

    python benchmarks/synth_rotation.py [--views 64] [--samples 24] [--repeats 3]
        [--tables render whole parts workers streams]
"""

from __future__ import annotations

import argparse
import io
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

from blur2video.fileio import encode_png, to_uint8
from blur2video.geometry import EquirectImage, PinholeCamera, interpolate_orientations, random_motion, view_orientation
from blur2video.runtime import keep_freed_memory
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationJob, RotationSettings
from blur2video.synth.sources import discover_sources

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
    """Per render, ours against py360convert.e2p for the very same views. e2p keeps the samplers of
    its last 8 views (an lru_cache), so it is timed twice: on the ``views`` views of one sample in
    turn, each new to it as in synthesis, and on 8 views asked again, where only its sampling runs
    (the figure this table gave before 2026-12-02)."""
    import py360convert

    pano = EquirectImage(equi)
    cam = PinholeCamera(256, 256, 60.0)
    rng = np.random.default_rng(0)
    motion, _ = random_motion(rng, 5.0)
    orients = interpolate_orientations(view_orientation(20.0, 10.0), motion, views)

    ours = best_of(lambda: pano.render(orients, cam), 5) / views
    angles = [tuple(r) for r in orients.as_euler("YXZ", degrees=True)]
    # py360convert's pixel-centre convention differs from ours by (W-1)/W in focal: same views
    fov_peer = math.degrees(2 * math.atan(128.0 / cam.focal * 255.0 / 256.0))

    def peer_views(chosen: list[tuple]) -> None:
        for yaw, pitch, roll in chosen:
            py360convert.e2p(equi, fov_peer, yaw, pitch, (256, 256), in_rot_deg=roll)

    new = best_of(lambda: peer_views(angles), 2) / len(angles)  # more views than its cache: every one new
    cached = best_of(lambda: peer_views(angles[:8]), 2) / 8
    print("| renderer (256x256 view from 2048x1024) | ms / render | renders / s | vs py360convert (new views) |")
    print("|---|---:|---:|---:|")
    print(f"| py360convert.e2p (bilinear), each view new to it | {new * 1e3:.2f} | {1 / new:.0f} | 1.0x |")
    print(
        f"| py360convert.e2p (bilinear), 8 views asked again (its sampler cache hit) | {cached * 1e3:.2f} "
        f"| {1 / cached:.0f} | {new / cached:.1f}x |"
    )
    print(
        f"| blur2video EquirectImage.render ({views} views / call) | {ours * 1e3:.2f} | {1 / ours:.0f} "
        f"| {new / ours:.1f}x ({cached / ours:.1f}x the cached) |"
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


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parts_table(src: Path, samples: int) -> None:
    """Where the whole command's CPU seconds go: the imports (fresh processes), then in this process
    the panorama's load, the samples (renders, averaging), their 8-bit conversion and their PNG
    encoding, ours against Pillow's at level 1 on the very same images."""
    rows = []
    # torch: what the command loaded until it rendered with OpenCV (it no longer does)
    for code in ("import torch", "import blur2video.cli, blur2video.synth.api"):
        cmd = [sys.executable, "-c", code]
        rows.append((f"`python -c '{code}'` (a fresh process)", min(_timed(cmd)[1] for _ in range(3))))
    job = RotationJob(discover_sources(str(src)), RotationSettings(frames=7, size=256, max_angle_deg=5.0))
    started = _cpu()
    job.source(0)
    rows.append(("load the panorama (decode, box-downscale to the view's resolution)", _cpu() - started))
    started = _cpu()
    made = [job.make(i) for i in range(samples)]
    rows.append(
        (f"make {samples} samples ({sum(m[2]['n_renders'] for m in made)} renders, Slerp, averaging)", _cpu() - started)
    )
    started = _cpu()
    images = [to_uint8(np.transpose(t, (1, 2, 0))) for blur, frames, _, _ in made for t in (blur, *frames)]
    rows.append((f"their {len(images)} images to 8 bits", _cpu() - started))
    encoders = {"blur2video's `encode_png`": encode_png, "Pillow at compress level 1 (before)": _pillow_png}
    sizes = {}
    for name, encode in encoders.items():
        started = _cpu()
        sizes[name] = sum(len(encode(image)) for image in images)
        rows.append((f"PNG: {name}, {sizes[name] / 1e6:.1f} MB", _cpu() - started))
    print(f"| where the CPU goes ({samples} samples, N=7, 256x256, 1 process) | CPU s |")
    print("|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    print()


def _pillow_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


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


def streams_table(src: Path) -> None:
    """ms a sample of ``RotationJob.make`` at the bundled recipe's stream settings, sources loaded
    and 3 samples made first, then 40 timed."""
    print("| training stream sample (N=7, 128 px, 1.5 deg) | ms / sample |")
    print("|---|---:|")
    for kind, source in (("photo", "skimage:astronaut,rocket"), ("panorama", str(src))):
        settings = RotationSettings(source_kind=kind, frames=7, size=128, max_angle_deg=1.5)
        job = RotationJob(discover_sources(source), settings)
        for i in range(3):
            job.make(i)
        started = time.perf_counter()
        for i in range(3, 43):
            job.make(i)
        print(f"| {kind} | {(time.perf_counter() - started) / 40 * 1e3:.1f} |")
    print()


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
        "--tables",
        nargs="+",
        choices=["render", "whole", "parts", "workers", "streams"],
        default=["render", "whole", "parts", "workers", "streams"],
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
        if "parts" in args.tables:
            parts_table(src, args.samples)
        if "workers" in args.tables:
            workers_table(src, tmp, args.samples)
        if "streams" in args.tables:
            streams_table(src)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
