"""The renderers' bilinear sampler (OpenCV's remap) against the bilinear formula in numpy."""

from __future__ import annotations

import os

import numpy as np
import pytest

from blur2video.errors import Blur2VideoError
from blur2video.geometry import sampling


def _bilinear(image: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Textbook bilinear interpolation in float64, coordinates clamped to the image (edge padding)."""
    h, w = image.shape[:2]
    x, y = np.clip(cols, 0, w - 1), np.clip(rows, 0, h - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), w - 2), np.minimum(np.floor(y).astype(int), h - 2)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    src = image.astype(np.float64)
    top = src[y0, x0] * (1 - fx) + src[y0, x0 + 1] * fx
    bottom = src[y0 + 1, x0] * (1 - fx) + src[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def test_sampling_is_the_bilinear_formula_inside_and_outside_the_image() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((30, 50, 3), dtype=np.float32)
    cols = rng.uniform(-4, 54, (40, 60)).astype(np.float32)
    rows = rng.uniform(-4, 34, (40, 60)).astype(np.float32)
    out = np.empty((40, 60, 3), np.float32)
    got = sampling.sample_bilinear(image, cols, rows, out)
    assert got is out or np.shares_memory(got, out)
    np.testing.assert_allclose(out, _bilinear(image, cols, rows), rtol=0, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_views_render_the_same_on_any_thread_count(threads: int) -> None:
    rng = np.random.default_rng(1)
    image = rng.random((20, 20, 3), dtype=np.float32)
    maps = rng.uniform(0, 19, (7, 2, 8, 8)).astype(np.float32)
    out = np.zeros((7, 8, 8, 3), np.float32)
    try:
        sampling.set_render_threads(threads)
        sampling.for_each_view(7, lambda v: sampling.sample_bilinear(image, maps[v, 0], maps[v, 1], out[v]))
    finally:
        sampling.set_render_threads(None)
    for v in range(7):
        np.testing.assert_allclose(out[v], _bilinear(image, maps[v, 0], maps[v, 1]), rtol=0, atol=1e-6)


def test_an_image_beyond_the_samplers_sides_is_one_line() -> None:
    with pytest.raises(Blur2VideoError, match=r"pano.jpg: 40000x20000 px .* lower --size"):
        sampling.check_side("pano.jpg", 40000, 20000, "lower --size")
    sampling.check_side("pano.jpg", sampling.MAX_SIDE, 100, "lower --size")


def test_an_opencv_that_rounds_the_weights_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV 4's remap would quietly change every render by up to 1/64 px of position."""
    monkeypatch.setattr(sampling, "EXACT_REMAP", False)
    image = np.zeros((4, 4, 3), np.float32)
    grid = np.zeros((2, 2), np.float32)
    with pytest.raises(Blur2VideoError, match=r"rounds remap's bilinear weights .* opencv-python-headless>=5.1"):
        sampling.sample_bilinear(image, grid, grid, np.empty((2, 2, 3), np.float32))


def test_none_gives_the_thread_count_back_to_the_cores() -> None:
    sampling.set_render_threads(1)
    assert sampling.render_threads() == 1
    sampling.set_render_threads(None)
    assert sampling.render_threads() == len(os.sched_getaffinity(0))
