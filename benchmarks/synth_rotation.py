"""Rotation-blur synthesis speed: renders/s of 256x256 views from a 2048x1024 panorama, ours vs
py360convert.e2p for the very same views (measured in this run), and whole samples/s by workers.

    python benchmarks/synth_rotation.py [--views 64] [--samples 24]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
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

SHARED_PANO = Path(__file__).resolve().parents[2] / "shared" / "data" / "panoramas" / "street.jpg"


def load_panorama() -> np.ndarray:
    """The real street panorama at 2048x1024 when present, else a textured synthetic one."""
    if SHARED_PANO.exists():
        img = Image.open(SHARED_PANO).convert("RGB").resize((2048, 1024), Image.BOX)
        return np.asarray(img, dtype=np.float32) / 255.0
    rng = np.random.default_rng(0)
    return rng.random((1024, 2048, 3), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--views", type=int, default=64, help="views per batched render (one sample's renders)")
    parser.add_argument("--samples", type=int, default=24, help="samples for the whole-pipeline rows")
    args = parser.parse_args()
    keep_freed_memory()  # as the CLI does (blur2video.runtime)

    import py360convert

    equi = load_panorama()
    pano = EquirectImage(equi)
    cam = PinholeCamera(256, 256, 60.0)
    rng = np.random.default_rng(0)
    motion, _ = random_motion(rng, 5.0)
    orients = interpolate_orientations(view_orientation(20.0, 10.0), motion, args.views)

    ours = best_of(lambda: pano.render(orients, cam), 5) / args.views
    yaw_pitch = [tuple(r.as_euler("YXZ", degrees=True)[:2]) for r in orients][:8]
    # py360convert's pixel-centre convention differs from ours by (W-1)/W in focal: same views
    fov_peer = math.degrees(2 * math.atan(128.0 / cam.focal * 255.0 / 256.0))
    peer = best_of(lambda: [py360convert.e2p(equi, fov_peer, y, p, (256, 256)) for y, p in yaw_pitch], 2) / len(
        yaw_pitch
    )

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    print()
    print("| renderer (256x256 view from 2048x1024) | ms / render | renders / s | vs py360convert |")
    print("|---|---:|---:|---:|")
    print(f"| py360convert.e2p (bilinear) | {peer * 1e3:.2f} | {1 / peer:.0f} | 1.0x |")
    print(
        f"| blur2video EquirectImage.render ({args.views} views / call) | {ours * 1e3:.2f} | {1 / ours:.0f} | "
        f"{peer / ours:.1f}x |"
    )

    tmp = Path(tempfile.mkdtemp())
    src = tmp / "src"
    src.mkdir()
    Image.fromarray((equi * 255).astype(np.uint8)).save(src / "pano.png")
    settings = RotationSettings(frames=7, size=256, max_angle_deg=5.0)
    print()
    print("| whole samples (N=7, 256x256, max angle 5 deg, PNG writes) | samples / s | vs 1 worker |")
    print("|---|---:|---:|")
    base = None
    for workers in (1, 2):
        out = tmp / f"out{workers}"
        t = time.perf_counter()
        synthesize_rotation(src, out, args.samples, settings, workers=workers)
        rate = args.samples / (time.perf_counter() - t)
        base = base or rate
        print(f"| --workers {workers} | {rate:.2f} | {rate / base:.2f}x |")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
