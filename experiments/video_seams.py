"""A blurred video made from real high-speed frames, restored as `blur2video restore clip.mp4` does
(issue 22 item 6): does every blurred frame come out in the true time order, and how large are the
steps between consecutive sub-frames, inside a frame and at the seams between frames?

Each blurred frame is the mean of N consecutive sharp frames (a shutter open the whole frame
interval), so the true sub-frames are the sharp frames themselves.

    python experiments/video_seams.py ../shared/data/gopro/GOPR0477_11_00 --scale 0.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from blur2video import Restorer
from blur2video.fileio import read_image
from blur2video.metrics import psnr
from blur2video.video import sharp_frames


def load(folder: Path, scale: float) -> np.ndarray:
    """The folder's PNG frames in name order, (T, H, W, 3) float32, scaled by ``scale``."""
    frames = []
    for path in sorted(folder.glob("*.png")):
        image = Image.fromarray((read_image(path) * 255).round().astype(np.uint8))
        if scale != 1.0:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        frames.append(np.asarray(image, dtype=np.float32) / 255)
    return np.stack(frames)


def db(a: np.ndarray, b: np.ndarray) -> float:
    """Mean PSNR (dB) of images (..., H, W, 3)."""
    return float(psnr(torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(np.ascontiguousarray(b))).mean())


def steps(subs: list[np.ndarray], n: int) -> tuple[float, float]:
    """(mean step inside frames, mean step at the seams) in grey levels: mean |difference| of
    consecutive sub-frames."""
    diffs = [float(np.abs(subs[k + 1] - subs[k]).mean() * 255) for k in range(len(subs) - 1)]
    seams = [d for k, d in enumerate(diffs) if (k + 1) % n == 0]
    inside = [d for k, d in enumerate(diffs) if (k + 1) % n != 0]
    return float(np.mean(inside)), float(np.mean(seams))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", type=Path, help="a folder of consecutive sharp frames (PNG)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    restorer = Restorer.from_pretrained("cpu")
    n = restorer.frames
    sharp = load(args.frames, args.scale)
    count = len(sharp) // n
    truth = sharp[: count * n].reshape(count, n, *sharp.shape[1:])
    blurred = truth.mean(1)
    print(f"{args.frames}: {count} blurred frames of {n} sharp ones, {blurred.shape[2]}x{blurred.shape[1]}")
    for blend in (0.0, 0.25):
        turned: list[int] = []
        subs = list(sharp_frames(restorer, list(blurred), seam_blend=blend, reversed_frames=turned))
        got = np.stack(subs).reshape(truth.shape)
        orders = ["forward" if db(got[t], truth[t]) >= db(got[t], truth[t, ::-1]) else "backward" for t in range(count)]
        ends = [0, n - 1]
        inside, seam = steps(subs, n)
        truth_inside, truth_seam = steps(list(truth.reshape(-1, *truth.shape[2:])), n)
        print(
            f"seam_blend {blend}: turned {turned}; order against the truth {orders}; end sub-frames' PSNR "
            f"{db(got[:, ends], truth[:, ends]):.2f} dB; steps inside frames {inside:.2f}, at seams {seam:.2f} "
            f"grey levels (the truth: {truth_inside:.2f}, {truth_seam:.2f})"
        )
    ends = [0, n - 1]
    as_blur = db(np.repeat(blurred[:, None], 2, axis=1), truth[:, ends])
    print(f"the blurred frame as every sub-frame: end sub-frames' PSNR {as_blur:.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
