"""Middle-frame PSNR of a plain unsharp mask of the blur: what sharpening alone buys on a DATASET.

    python scripts/unsharp_baseline.py heldout/photo-1deg

A model whose middle-frame gain equals this has learned to sharpen, not to undo the motion
(README "Pretrained model"). Unsharp mask: clip(blur + amount * (blur - gaussian(blur, sigma))).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from blur2video.data.dataset import read_dataset_header
from blur2video.data.io import read_image
from blur2video.errors import Blur2VideoError
from blur2video.metrics import psnr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a DATASET folder (blurred input and its frames)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.7, 1.0])
    parser.add_argument("--amounts", type=float, nargs="+", default=[0.3, 0.6, 1.0])
    args = parser.parse_args()
    try:
        settings, records = read_dataset_header(args.data)
    except Blur2VideoError as exc:
        parser.exit(2, f"unsharp_baseline: {exc}\n")
    middle = settings["frames"] // 2
    scores: dict[str, list[float]] = {}
    for record in records:
        blur = read_image(args.data / record["blur"])
        target = torch.from_numpy(read_image(args.data / record["frames"][middle])).permute(2, 0, 1)
        candidates = {"blurred input": blur}
        for sigma in args.sigmas:
            detail = blur - gaussian_filter(blur, (sigma, sigma, 0))
            for amount in args.amounts:
                candidates[f"unsharp sigma {sigma} amount {amount}"] = np.clip(blur + amount * detail, 0.0, 1.0)
        for name, image in candidates.items():
            scores.setdefault(name, []).append(float(psnr(torch.from_numpy(np.asarray(image, np.float32)).permute(2, 0, 1), target)))
    print(f"{args.data}: {len(records)} samples, middle frame {middle}")
    print("| method | middle-frame PSNR (dB) |")
    print("|---|---:|")
    for name, values in scores.items():
        print(f"| {name} | {np.mean(values):.2f} |")


if __name__ == "__main__":
    main()
