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


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Best achieved fp32 GEMM rate with all threads: the ceiling a conv net could reach here
    (the best, so our percentages are conservative)."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    return 2 * size**3 / best_of(lambda: a @ b, repeats) / 1e9
