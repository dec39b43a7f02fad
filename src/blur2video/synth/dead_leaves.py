"""Procedural dead-leaves images: an unlimited texture source for training that needs no download.

Disks with power-law radii (density ~ r^-3, the scale-invariant law of natural images) fall one
in front of another until the canvas is covered; the result has sharp edges at every scale and
orientation, which is what a deblurring network must learn to restore. Restoration networks
trained on such images are reported to come close to ones trained on real photos (Achddou,
Gousseau and Ladjal, "Synthetic images as a regularity prior for image restoration neural
networks", 2021); on our held-out photos a fine-tune with them did not help
(experiments/README.md, "the bundled model's levers and probes").
"""

from __future__ import annotations

import numpy as np

_SEED = 7243  # keeps these images apart from every other seeded stream


def dead_leaves(index: int, size: int = 512, rmin: float = 1.0, rmax: float = 128.0, alpha: float = 3.0) -> np.ndarray:
    """Dead-leaves image number ``index`` (the same every time) as float32 (size, size, 3) in [0, 1].

    Rendered at twice the size and box-downsampled, so disk edges are antialiased like a camera's.
    Colours are a random grey plus a mild random tint, so most are as unsaturated as a photo's.
    """
    rng = np.random.default_rng([_SEED, index])
    hi = 2 * size
    image = np.zeros((hi, hi, 3), np.float32)
    covered = np.zeros((hi, hi), bool)
    left = hi * hi
    a1 = 1.0 - alpha
    lo_pow, hi_pow = (2 * rmin) ** a1, (2 * rmax) ** a1
    while left > 0.001 * hi * hi:
        r = (lo_pow + rng.random() * (hi_pow - lo_pow)) ** (1.0 / a1)  # inverse CDF of the power law
        cx, cy = rng.uniform(-r, hi + r, 2)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, hi)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, hi)
        if x0 >= x1 or y0 >= y1:
            continue
        ys = (np.arange(y0, y1) + 0.5 - cy)[:, None]
        xs = (np.arange(x0, x1) + 0.5 - cx)[None, :]
        under = covered[y0:y1, x0:x1]
        mask = (xs * xs + ys * ys <= r * r) & ~under  # a disk shows only where no earlier one lies
        shown = int(mask.sum())
        if not shown:
            continue
        image[y0:y1, x0:x1][mask] = np.clip(rng.random() + 0.35 * (rng.random(3) - 0.5), 0.0, 1.0)
        under |= mask
        left -= shown
    image[~covered] = rng.random()
    return image.reshape(size, 2, size, 2, 3).mean(axis=(1, 3))
