"""Throwaway probe (experiments/README.md): the bundled model, or a checkpoint given as argv[1], on GoPro frames 15-21
restored at scales 1, 1/2, 1/3 and 1/4 with the upsampled correction added to the full-size blur."""

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from blur2video.fileio import read_image
from blur2video.restore import Restorer

torch.set_num_threads(2)
ck = sys.argv[1] if len(sys.argv) > 1 else None
r = Restorer.from_checkpoint(ck) if ck else Restorer.from_pretrained()
root = Path("../shared/data/gopro/GOPR0477_11_00")


def psnr(a, b):
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


for first in (15,):
    fr = np.stack([read_image(root / f"{i:06d}.png") for i in range(first, first + 7)])
    blur = fr.mean(0)
    bt = torch.from_numpy(blur).permute(2, 0, 1)[None]
    print("window", first, "blur psnr first/mid/last", [round(psnr(blur, fr[j]), 2) for j in (0, 3, 6)])
    for s in (1.0, 0.5, 1 / 3, 0.25):
        t = time.time()
        small = (
            bt if s == 1 else F.interpolate(bt, scale_factor=s, mode="bilinear", antialias=True, align_corners=False)
        )
        out = torch.from_numpy(r.restore(small[0].permute(1, 2, 0).numpy(), max_pixels=10**8).frames).permute(
            0, 3, 1, 2
        )
        if s != 1:
            res = out - small
            up = F.interpolate(res, size=bt.shape[-2:], mode="bilinear", align_corners=False)
            out = (bt + up).clamp(0, 1)
        o = out.permute(0, 2, 3, 1).numpy()
        fwd = [psnr(o[j], fr[j]) for j in range(7)]
        rev = [psnr(o[j], fr[6 - j]) for j in range(7)]
        best = fwd if np.mean(fwd) >= np.mean(rev) else rev
        print(
            f"scale {s:.3f}: first/mid/last {best[0]:.2f} {best[3]:.2f} {best[6]:.2f} "
            f"mean {np.mean(best):.2f}  ({time.time() - t:.1f}s)",
            flush=True,
        )
