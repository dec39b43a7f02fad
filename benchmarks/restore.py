"""Restore speed with the bundled model: seconds and peak memory for 640x360, 1280x720 and a
12-megapixel photo (tiled), each in its own process so its peak RSS is its own.

    python benchmarks/restore.py [--sizes 640x360 1280x720 4000x3000] [--peer WEIGHTS]

``--peer`` times another model file in the same run (say, the previous bundled model) and states
the bundled model's time as a ratio of it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np
from _peak import peak_rss_mb


def _run(width: int, height: int, weights: str | None, queue) -> None:
    import torch
    from skimage.transform import resize

    from blur2video import Restorer

    torch.set_num_threads(2)
    restorer = Restorer.from_checkpoint(weights, "cpu") if weights else Restorer.from_pretrained("cpu")
    import skimage.data

    image = (resize(skimage.data.astronaut(), (height, width), anti_aliasing=False) * 255).astype(np.uint8)
    restorer.restore(image[:64, :64])
    t = time.perf_counter()
    video = restorer.restore(image)
    seconds = time.perf_counter() - t
    queue.put((seconds, peak_rss_mb(), video.frames.shape[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1280x720", "4000x3000"])
    parser.add_argument("--peer", help="another model file to time in the same run")
    args = parser.parse_args()
    peer = " | peer seconds | peer peak RSS (MB) | bundled / peer" if args.peer else ""
    print(f"| input | megapixels | frames | seconds (2 threads) | peak RSS (MB){peer} |")
    print("|---|---:|---:|---:|---:" + "|---:" * (3 if args.peer else 0) + "|")
    ctx = mp.get_context("spawn")
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        seconds, peak, n = _measure(ctx, w, h, None)
        row = f"| {w}x{h} | {w * h / 1e6:.1f} | {n} | {seconds:.2f} | {peak:.0f}"
        if args.peer:
            other, other_peak, _ = _measure(ctx, w, h, args.peer)
            row += f" | {other:.2f} | {other_peak:.0f} | {seconds / other:.2f}x"
        print(row + " |")


def _measure(ctx, width: int, height: int, weights: str | None) -> tuple[float, float, int]:
    """One restore in a fresh process: (seconds, peak RSS in MB, frames)."""
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(width, height, weights, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


if __name__ == "__main__":
    main()
