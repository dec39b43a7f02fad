"""Throwaway probe (experiments/README.md): one blend weight g of every non-middle frame towards the blur,
the bundled model (or argv[1]) on GoPro frames 15-21."""

import sys
from pathlib import Path

import numpy as np
import torch

from blur2video.fileio import read_image
from blur2video.restore import Restorer

torch.set_num_threads(2)
r = Restorer.from_checkpoint(sys.argv[1]) if len(sys.argv) > 1 else Restorer.from_pretrained()
root = Path("../shared/data/gopro/GOPR0477_11_00")
fr = np.stack([read_image(root / f"{i:06d}.png") for i in range(15, 22)])
blur = fr.mean(0)
o = r.restore(blur, max_pixels=10**8).frames


def psnr(a, b):
    return 10 * np.log10(1 / np.mean((a - b) ** 2))


for g in (0, 0.25, 0.5, 0.75, 1.0):
    out = blur + g * (o - blur)
    out[3] = o[3]
    fwd = [psnr(out[j], fr[j]) for j in range(7)]
    rev = [psnr(out[j], fr[6 - j]) for j in range(7)]
    best = fwd if np.mean(fwd) >= np.mean(rev) else rev
    print(f"g={g}: " + " ".join(f"{x:.2f}" for x in best) + f" mean {np.mean(best):.2f}")
