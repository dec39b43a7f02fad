"""The optional C kernels (built at install when a C compiler is present): loading them with ctypes
and running one over a range of items on torch's thread count. ctypes releases the GIL, so a
persistent thread pool runs the shares in parallel. Every caller keeps a torch path for when a
kernel is missing (no compiler at install), so nothing here is required."""

from __future__ import annotations

import ctypes
import importlib.util
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import torch

MIN_PER_THREAD = 1 << 16  # items below which handing a share to the pool costs more than the share


def load(module: str, symbol: str, argtypes: Sequence[type]) -> Callable[..., int] | None:
    """``symbol`` of the compiled extension ``module`` with its argument types, or None where the
    install built no such extension. Every kernel returns an int status (0 when it ran)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    try:
        fn = getattr(ctypes.CDLL(spec.origin), symbol)
    except (OSError, AttributeError):
        return None
    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int
    return fn


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="blur2video-native")


# A forked child (DataLoader and synthesis workers) inherits the pool without its threads, and
# would wait forever on it: it builds its own.
os.register_at_fork(after_in_child=_pool.cache_clear)


def pixel_rows(t: torch.Tensor) -> bool:
    """A CPU float32 (B, C, H, W) tensor whose pixels are rows of C floats (dense channels-last):
    the layout the network's kernels read and write."""
    return (
        t.device.type == "cpu"
        and t.dtype == torch.float32
        and t.dim() == 4
        and t.is_contiguous(memory_format=torch.channels_last)
    )


def threads_for(count: int, min_per_thread: int = MIN_PER_THREAD) -> int:
    """torch's thread count, or fewer where a share of ``count`` items would be too small to pay
    for waking a thread."""
    return max(1, min(torch.get_num_threads(), count // min_per_thread))


def check(status: int, kernel: str) -> None:
    """Kernels refuse only arguments their Python wrappers never pass: a refusal is a bug there."""
    if status:
        raise RuntimeError(f"{kernel} refused its arguments (status {status})")


def run_split(fn: Callable[..., int], count: int, *args, align: int = 64, min_per_thread: int = MIN_PER_THREAD) -> None:
    """Call ``fn(*args, begin, end)`` over [0, count) split in ``align``-aligned shares, one per
    torch thread; a kernel's refusal (non-zero status) is a bug in its caller, so it raises."""
    threads = threads_for(count, min_per_thread)
    bounds = [count * t // threads // align * align for t in range(threads)] + [count]
    if threads == 1:
        statuses = [fn(*args, 0, count)]
    else:  # the calling thread takes the last share itself
        jobs = [_pool(threads - 1).submit(fn, *args, lo, hi) for lo, hi in zip(bounds[:-2], bounds[1:-1], strict=False)]
        statuses = [fn(*args, bounds[-2], bounds[-1])] + [job.result() for job in jobs]
    for status in statuses:
        check(status, fn.__name__)
