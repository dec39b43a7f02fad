"""The one-pass averaging kernel (``_mean_u8.c``, built at install when a C compiler is present),
loaded and run on torch's thread count by :mod:`blur2video.native`. One pass matters because
torch has no fused "sum uint8 frames into float" op: its in-place adds re-read and re-write an
integer total once per frame (benchmarks/synth_video.py measures both)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache

import torch

from .. import native

MAX_FRAMES = 16  # the kernel's limit: 16 * 255 fits its uint16 total


@cache
def _kernel() -> Callable[..., int] | None:
    """The compiled kernel, or None where the install had no C compiler."""
    argtypes = [
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_float,
        ctypes.c_size_t,
        ctypes.c_size_t,
    ]
    return native.load("blur2video.synth._mean_u8", "b2v_mean_u8", argtypes)


def available() -> bool:
    """Whether the compiled kernel was built and loads."""
    return _kernel() is not None


def mean_uint8(frames: torch.Tensor) -> torch.Tensor | None:
    """Exact mean of CPU uint8 frames (T, ...) as float32 (shape ``frames.shape[1:]``), identical
    to summing in integers and scaling by 1 / (255 T) in float32; None when the kernel cannot take
    them (not built, more than MAX_FRAMES frames, not on the CPU), so the caller falls back."""
    fn = _kernel()
    n = frames.shape[0]
    if fn is None or not 1 <= n <= MAX_FRAMES or frames.device.type != "cpu" or frames.dtype != torch.uint8:
        return None
    frames = frames.contiguous()
    out = torch.empty(frames.shape[1:], dtype=torch.float32)
    count = out.numel()
    pointers = (ctypes.c_void_p * n)(*(frames.data_ptr() + k * count for k in range(n)))
    native.run_split(fn, count, pointers, n, out.data_ptr(), 1.0 / (255.0 * n))  # cache-line aligned shares
    return out
