"""Inference speed: one blurred image -> N frames, per preset, with seconds, peak memory and
achieved GFLOP/s as a fraction of this machine's fp32 matmul rate measured in the same run, run
both by MKL (torch.matmul) and by oneDNN (the library our convolutions use; see _peak.py).

    python benchmarks/inference.py [--width 1280 --height 720 --frames 7 --presets small fast paper]

Each configuration runs in its own process so its peak memory (max RSS) is its own, once with
glibc's default allocator behaviour and once keeping freed memory (blur2video.runtime, what the
CLI, Restorer and Trainer do). The network always runs channels-last (blur2video.model.network).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp

import torch
from _peak import best_of, gemm_rates, peak_columns, peak_rss_mb, percent_cells, rates_line


def _run(preset: str, frames: int, height: int, width: int, keep_memory: bool, queue) -> None:
    from blur2video.model import Blur2Video, ModelConfig
    from blur2video.model.flops import count_flops
    from blur2video.runtime import keep_freed_memory

    if keep_memory:
        keep_freed_memory()
    model = Blur2Video(ModelConfig.preset(preset, frames=frames)).eval()
    x = torch.rand(1, 3, height, width)
    with torch.inference_mode():
        flops = count_flops(lambda: model(x))
    with torch.inference_mode():
        seconds = best_of(lambda: model(x), 5)  # the FLOP count above was the warm-up run
    queue.put((seconds, flops, peak_rss_mb()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--frames", type=int, default=7)
    parser.add_argument("--presets", nargs="+", default=["small", "fast"])
    args = parser.parse_args()
    rates = gemm_rates()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {rates_line(rates)}")
    print()
    print(
        "| preset | input | N | allocator | seconds | peak RSS (MB) | GFLOP | GFLOP/s | " + peak_columns(rates) + " |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    ctx = mp.get_context("spawn")
    for preset in args.presets:
        for keep_memory in (False, True):
            queue = ctx.Queue()
            proc = ctx.Process(target=_run, args=(preset, args.frames, args.height, args.width, keep_memory, queue))
            proc.start()
            seconds, flops, peak_mb = queue.get()
            proc.join()
            rate = flops / seconds / 1e9
            layout = "keeps freed memory" if keep_memory else "glibc default"
            print(
                f"| {preset} | {args.width}x{args.height} | {args.frames} | {layout} | {seconds:.2f} | {peak_mb:.0f} "
                f"| {flops / 1e9:.0f} | {rate:.0f} | {percent_cells(rate, rates)} |"
            )


if __name__ == "__main__":
    main()
