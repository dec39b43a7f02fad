"""experiments/reblur_fallback.py: its order-invariant per-frame score."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reblur_fallback import best_order  # noqa: E402


def test_best_order_takes_the_reversed_sequence_when_it_fits_better():
    rng = np.random.default_rng(0)
    truth = rng.random((3, 8, 8, 3)).astype(np.float32)
    noisy = np.clip(truth + rng.normal(0, 0.01, truth.shape), 0, 1).astype(np.float32)
    forward, reversed_ = best_order(noisy, truth), best_order(noisy[::-1], truth)
    np.testing.assert_allclose(forward, reversed_[::-1], rtol=1e-6)
    expected = -10 * np.log10(((noisy.astype(np.float64) - truth) ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(forward, expected, rtol=1e-6)
