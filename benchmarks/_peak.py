"""The machine's fp32 matmul rate, measured in the same run as each benchmark's figures."""

from __future__ import annotations

import time

import torch


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Best achieved fp32 GEMM rate with all threads over ``repeats`` tries: the ceiling a conv
    net could reach here. The best, not the mean, because a shared machine only ever slows a
    try down, and a higher ceiling makes our percentages conservative."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9
