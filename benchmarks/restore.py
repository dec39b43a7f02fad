"""Restore speed with the bundled model: seconds and peak memory for 640x360, 1280x720 and a
12-megapixel photo (tiled), each in its own process so its peak RSS is its own.

    python benchmarks/restore.py [--sizes 640x360 1280x720 4000x3000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np
from _peak import peak_rss_mb


def _run(width: int, height: int, queue) -> None:
    import torch
    from skimage.transform import resize

    from blur2video import Restorer

    torch.set_num_threads(2)
    restorer = Restorer.from_pretrained("cpu")
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
    args = parser.parse_args()
    print("| input | megapixels | frames | seconds (2 threads) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    ctx = mp.get_context("spawn")
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        queue = ctx.Queue()
        proc = ctx.Process(target=_run, args=(w, h, queue))
        proc.start()
        seconds, peak, n = queue.get()
        proc.join()
        print(f"| {w}x{h} | {w * h / 1e6:.1f} | {n} | {seconds:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
