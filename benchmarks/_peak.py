"""The machine's fp32 matmul rate, measured in the same run as each benchmark's figures."""

from __future__ import annotations

import time

import torch


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Achieved fp32 GEMM rate with all threads: the ceiling a conv net could reach here."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - t) / 1e9
