"""Bilinear sampling of an image at given pixel coordinates, for the synthesizers' renderers.

OpenCV's ``remap`` does it: exact float bilinear weights (8e-8 off the formula, measured;
tests/geometry/test_sampling.py holds it to 1e-6 against numpy), SIMD, and no GIL, so views render
in parallel threads. It replaced ``torch.nn.functional.grid_sample`` here because synthesis then never imports
torch, whose import alone took longer than rendering a whole dataset of 24 samples
(docs/benchmarks.md, "Camera-rotation synthesis, the whole command").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from ..errors import Blur2VideoError

# cv2.remap asserts that every side of its source and output is under SHRT_MAX.
MAX_SIDE = 32766
# OpenCV 4 rounds remap's bilinear weights to 1/32 px (4.10: 0.025 off the formula on noise);
# 5.1 is the first release measured exact, and the one pyproject.toml asks for.
EXACT_REMAP = tuple(int(part) for part in cv2.__version__.split(".")[:2]) >= (5, 1)

_threads: int | None = None


def render_threads() -> int:
    """Threads that render views at once: the cores this process may use, unless set."""
    if _threads is not None:
        return _threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def set_render_threads(threads: int | None, forked: bool = False) -> None:
    """Render with ``threads`` threads (worker processes take 1: the processes fill the cores);
    None goes back to one per core. ``forked``: this process was forked from one that may have
    rendered (a DataLoader worker); OpenCV's own pool is then left as it is, since resizing the
    pool a fork inherited waits forever on the parent's threads, which the child does not have."""
    global _threads
    _threads = None if threads is None else max(1, int(threads))
    if not forked:
        cv2.setNumThreads(-1 if _threads is None else _threads)  # -1: OpenCV's own default


def sample_bilinear(image: np.ndarray, cols: np.ndarray, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C) float32 sampled at (``cols``, ``rows``) (h, w), pixel centres at integers,
    into ``out`` (h, w, C); coordinates outside take the nearest edge pixel's value (as
    ``grid_sample``'s border padding does)."""
    require_exact_remap()
    return cv2.remap(image, cols, rows, cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_REPLICATE)


def require_exact_remap() -> None:
    """One line instead of renders quietly off by up to 1/64 px where an older OpenCV is installed
    (pip install --no-deps, a system package); the synthesizers call it before touching a folder."""
    if not EXACT_REMAP:
        raise Blur2VideoError(
            f"OpenCV {cv2.__version__} rounds remap's bilinear weights to 1/32 px, which would change every "
            "render; install opencv-python-headless>=5.1 (pip install -e . asks for it)"
        )


def render_views(
    image: np.ndarray, count: int, height: int, width: int, maps_of_view: Callable[[int], tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """``count`` views (count, height, width, C) float32 of ``image`` (H, W, C), view v sampled at the
    (columns, rows) of ``maps_of_view(v)``, each (height * width,) or (height, width)."""
    out = np.empty((count, height, width, image.shape[2]), np.float32)

    def render_view(v: int) -> None:
        cols, rows = maps_of_view(v)
        sample_bilinear(image, cols.reshape(height, width), rows.reshape(height, width), out[v])

    for_each_view(count, render_view)
    return out


def for_each_view(count: int, render_view: Callable[[int], None]) -> None:
    """``render_view(v)`` for v in range(count), spread over ``render_threads()`` threads: numpy's
    coordinate maths and OpenCV's sampling both release the GIL."""
    threads = min(render_threads(), count)
    if threads <= 1:
        for v in range(count):
            render_view(v)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="blur2video-render") as pool:
        for done in pool.map(render_view, range(count)):
            del done  # map re-raises a view's exception here


def check_side(name: str, width: int, height: int, fix: str) -> None:
    """One line naming ``name`` and ``fix`` for an image the sampler cannot take."""
    if max(width, height) > MAX_SIDE:
        raise Blur2VideoError(f"{name}: {width}x{height} px is more than the renderer's {MAX_SIDE} px a side; {fix}")
