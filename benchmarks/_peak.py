"""Timing shared by the benchmarks: best-of timing, and the machine's fp32 matmul rate measured in
the same run as each benchmark's figures."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` calls after one warm-up (seconds): a shared machine only ever slows
    a call down, so the best is what the code itself costs."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def gemm_rates(size: int = 2048, repeats: int = 10) -> dict[str, float]:
    """Best achieved fp32 GFLOP/s of one size^3 matrix product with all threads, run two ways:
    torch.matmul (MKL) and a 1x1 convolution (oneDNN, the library our convolutions run on). On
    AMD Zen 5 MKL takes an AVX2 path (about 200 GFLOP/s on 2 cores) where oneDNN's AVX-512 reaches
    about 450, so the benchmarks state their rate against both."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    x = torch.rand(1, size, 32, size // 32).contiguous(memory_format=torch.channels_last)
    w = torch.rand(size, size, 1, 1)
    flops = 2 * size**3
    return {
        "MKL matmul": flops / best_of(lambda: a @ b, repeats) / 1e9,
        "oneDNN GEMM": flops / best_of(lambda: torch.nn.functional.conv2d(x, w), repeats) / 1e9,
    }


def peak_columns(rates: dict[str, float]) -> str:
    """Markdown header cells, one "% of <GEMM>" per measured GEMM."""
    return " | ".join(f"% of {name}" for name in rates)


def percent_cells(gflops: float, rates: dict[str, float]) -> str:
    """``gflops`` as a percentage of each measured GEMM rate, as markdown cells."""
    return " | ".join(f"{100 * gflops / r:.0f}%" for r in rates.values())


def rates_line(rates: dict[str, float]) -> str:
    """One line naming every measured GEMM rate, for a benchmark's header."""
    return "fp32 GEMM " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()) + " GFLOP/s"


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB). Read from /proc's VmHWM where there is one: on
    Linux ``ru_maxrss`` survives exec, so a spawned benchmark child would report its parent's peak
    whenever the parent was the larger."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
