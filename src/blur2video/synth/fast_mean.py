"""The one-pass averaging kernel (``_mean_u8.c``, built at install when a C compiler is present),
loaded with ctypes and run on torch's thread count. One pass matters because torch has no fused
"sum uint8 frames into float" op: its in-place adds re-read and re-write an integer total once per
frame (benchmarks/synth_video.py measures both)."""

from __future__ import annotations

import ctypes
import importlib.util
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import torch

MAX_FRAMES = 16  # the kernel's limit: 16 * 255 fits its uint16 total
_MIN_PER_THREAD = 1 << 16  # below this, handing a share to the pool costs more than the share itself


@cache
def _kernel() -> Callable[..., int] | None:
    """The compiled kernel, or None where the install had no C compiler."""
    spec = importlib.util.find_spec("blur2video.synth._mean_u8")
    if spec is None or spec.origin is None:
        return None
    try:
        fn = ctypes.CDLL(spec.origin).b2v_mean_u8
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_float]
    fn.restype = ctypes.c_int
    return fn


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="blur2video-mean")


# A forked child (DataLoader and synthesis workers) inherits the pool without its threads, and
# would wait forever on it: it builds its own.
os.register_at_fork(after_in_child=_pool.cache_clear)


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
    scale = 1.0 / (255.0 * n)
    threads = max(1, min(torch.get_num_threads(), count // _MIN_PER_THREAD))
    bounds = [count * t // threads // 64 * 64 for t in range(threads)] + [count]  # cache-line aligned splits
    if threads == 1:
        fn(pointers, n, out.data_ptr(), 0, count, scale)
    else:
        for job in [_pool(threads).submit(fn, pointers, n, out.data_ptr(), lo, hi, scale) for lo, hi in zip(bounds, bounds[1:])]:
            job.result()
    return out
