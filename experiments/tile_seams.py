"""How visible the seams of a tiled restore are: each frame of a photo restored in tiles against the
same photo restored in one pass (issue 22 item 8).

The tiled restore takes the global motion the one-pass restore finds (``motion_pixels`` at full
size; by default restore estimates it on a copy scaled to the tile budget), so away from the
photo's own border the two differ only where tiles meet: the worst column (and row) of their mean
absolute difference is the height of a seam line, in grey levels (0-255).

    python experiments/tile_seams.py ../shared/data/real_blur/blurred/gopro_seq1.png --max-pixels 369664
    python experiments/tile_seams.py PHOTO --zoom 2 --crop 640x360   # a 2x larger motion, as a phone photo has
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from PIL import Image

from blur2video import Restorer
from blur2video.restore import load_input

BORDER = 16  # the photo's own border differs by padding alone (a one-pass restore pads to a multiple of 32)


def seam_heights(tiled: np.ndarray, whole: np.ndarray) -> list[tuple[float, int, float, int]]:
    """Per frame: (worst column's mean |difference| in grey levels, its x, worst row's, its y)."""
    diff = np.abs(tiled - whole).mean(-1)[:, BORDER:-BORDER, BORDER:-BORDER] * 255
    cols, rows = diff.mean(1), diff.mean(2)
    return [
        (float(c.max()), int(c.argmax()) + BORDER, float(r.max()), int(r.argmax()) + BORDER)
        for c, r in zip(cols, rows, strict=True)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo")
    parser.add_argument("--max-pixels", type=int, default=608 * 608, help="tile budget of the tiled restore")
    parser.add_argument("--crop", default=None, help="WxH from the top-left corner, before --zoom")
    parser.add_argument("--zoom", type=float, default=1.0, help="scale the photo (and so its blur) by this")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    image = load_input(args.photo)
    if args.crop:
        w, h = map(int, args.crop.split("x"))
        image = image[:h, :w]
    if args.zoom != 1.0:
        h, w = image.shape[:2]
        size = (round(w * args.zoom), round(h * args.zoom))
        image = np.stack(
            [np.asarray(Image.fromarray(image[..., c]).resize(size, Image.BICUBIC)) for c in range(3)], -1
        ).clip(0, 1)
    restorer = Restorer.from_pretrained("cpu")
    start = time.perf_counter()
    whole = restorer.restore(image, max_pixels=10**9)
    tiled = restorer.restore(image, max_pixels=args.max_pixels, motion_pixels=10**9)
    h, w = image.shape[:2]
    print(f"{args.photo} {w}x{h}, tiles of at most {args.max_pixels} pixels ({time.perf_counter() - start:.0f} s)")
    print("frame  worst column (grey levels, x)  worst row (grey levels, y)")
    for j, (col, x, row, y) in enumerate(seam_heights(tiled.frames, whole.frames)):
        print(f"{j:5d}  {col:8.2f} at x = {x:<5d}          {row:8.2f} at y = {y}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
