"""Dead-leaves textures: deterministic, covering, and with a natural photo's power spectrum."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from blur2video.errors import Blur2VideoError
from blur2video.synth.dead_leaves import dead_leaves
from blur2video.synth.sources import DEAD_LEAVES_DEFAULT, discover_sources


def _spectrum_slope(grey: np.ndarray) -> float:
    """Slope of log radial power against log frequency, 8-128 cycles per image: about -2 for
    natural photos (scale invariance), 0 for white noise."""
    n = min(grey.shape)
    grey = grey[:n, :n] - grey[:n, :n].mean()
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey))) ** 2
    y, x = np.indices(power.shape)
    radius = np.hypot(y - n // 2, x - n // 2).astype(int)
    profile = np.bincount(radius.ravel(), power.ravel()) / np.bincount(radius.ravel())
    freqs = np.arange(8, 128)
    return float(np.polyfit(np.log(freqs), np.log(profile[freqs]), 1)[0])


def test_the_same_index_gives_the_same_image_and_others_differ() -> None:
    a, b, c = dead_leaves(5, size=128), dead_leaves(5, size=128), dead_leaves(6, size=128)
    assert a.shape == (128, 128, 3) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0


def test_leaves_cover_the_canvas_with_many_shapes() -> None:
    image = dead_leaves(0, size=256)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 1000  # flat leaves, plus their antialiased edges
    grad = np.abs(np.diff(image.mean(-1), axis=1))
    assert 0.05 < (grad > 1e-3).mean() < 0.9  # edges everywhere, but flat leaves in between


def test_power_spectrum_falls_like_real_photos() -> None:
    """Inside the range of the bundled photos' slopes (-1.6 grass .. -3.0 retina), far from noise."""
    photos = [skimage.data.rocket(), skimage.data.coffee(), skimage.data.grass(), skimage.data.retina()]
    slopes = [_spectrum_slope(p.mean(-1) if p.ndim == 3 else p.astype(float)) for p in photos]
    for index in range(2):
        slope = _spectrum_slope(dead_leaves(index).mean(-1))
        assert min(slopes) - 0.1 < slope < max(slopes) + 0.1
        assert slope < -1.5


def test_sources_name_dead_leaves_images() -> None:
    refs = discover_sources("deadleaves:3")
    assert [r.name for r in refs] == ["deadleaves:0", "deadleaves:1", "deadleaves:2"]
    assert np.array_equal(refs[1].load(), dead_leaves(1))
    assert len(discover_sources("deadleaves")) == DEAD_LEAVES_DEFAULT
    for bad in ("deadleaves:0", "deadleaves:many"):
        with pytest.raises(Blur2VideoError, match="deadleaves:COUNT"):
            discover_sources(bad)
