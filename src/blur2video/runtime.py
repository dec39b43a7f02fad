"""Where the network runs: the device, and a CPU allocator setting that makes large tensors cheap,
which the entry points (the command line, Restorer, Trainer, evaluate) ask for explicitly: it
changes the whole process, so a library call that only picks a device leaves it alone.

glibc hands every allocation above 32 MB back to the kernel when it is freed, so the next one of
that size page-faults through fresh zeroed memory: at 720p a channel concatenation then ran at
a tenth of copy speed. Keeping freed memory in the process (what jemalloc/tcmalloc do, and what
PyTorch's CPU tuning guide recommends them for) made 720p inference 1.7-2x faster and panorama
rendering 2.1x (benchmarks/inference.py, benchmarks/synth_rotation.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
from typing import TYPE_CHECKING

from .errors import Blur2VideoError

if TYPE_CHECKING:
    import torch

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters (malloc.h)


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc to serve big blocks from the heap and keep freed ones; False where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False


_DEVICE_NAME = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def check_device_name(name: str) -> str:
    """``name`` if it names a device (auto, cpu, cuda, cuda:K, mps), else one line saying which do;
    torch's own error for a typo is a traceback listing twenty device types."""
    if not _DEVICE_NAME.fullmatch(name):
        raise Blur2VideoError(f"--device {name}: not a device; give auto, cpu or cuda (cuda:K for the K-th GPU)")
    return name


def pick_device(name: str) -> torch.device:
    """``auto`` takes CUDA when present. torch is imported here, not at the top: the command line
    imports this module for every command, ``--help`` included."""
    import torch

    name = check_device_name(str(name))  # str: a torch.device given through the API
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise Blur2VideoError("--device cuda: no CUDA device is visible to torch; use --device cpu or auto")
    return torch.device(name)
