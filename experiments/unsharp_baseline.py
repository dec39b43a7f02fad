"""Middle-frame PSNR of a plain unsharp mask of the blur: what sharpening alone buys on a DATASET.

    python experiments/unsharp_baseline.py heldout/photo-1deg

A model whose middle-frame gain equals this has learned to sharpen, not to undo the motion
(experiments/README.md). Unsharp mask: clip(blur + amount * (blur - gaussian(blur, sigma))).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from middle_frame_table import middle_frame_samples, print_table
from scipy.ndimage import gaussian_filter

from blur2video.errors import Blur2VideoError
from blur2video.metrics import psnr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a DATASET folder (blurred input and its frames)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.7, 1.0])
    parser.add_argument("--amounts", type=float, nargs="+", default=[0.3, 0.6, 1.0])
    args = parser.parse_args()
    try:
        header, samples = middle_frame_samples(args.data)
    except Blur2VideoError as exc:
        parser.exit(2, f"unsharp_baseline: {exc}\n")
    scores: dict[str, list[float]] = {}
    for _, blur, target in samples:
        candidates = {"blurred input": blur}
        for sigma in args.sigmas:
            detail = blur - gaussian_filter(blur, (sigma, sigma, 0))
            for amount in args.amounts:
                candidates[f"unsharp sigma {sigma} amount {amount}"] = np.clip(blur + amount * detail, 0.0, 1.0)
        for name, image in candidates.items():
            scores.setdefault(name, []).append(
                float(psnr(torch.from_numpy(np.asarray(image, np.float32)).permute(2, 0, 1), target))
            )
    print_table(args.data, header, scores)


if __name__ == "__main__":
    main()
