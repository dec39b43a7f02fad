"""Training augmentations keep every sample physically consistent: the blur stays the exact mean
of its frames, and the blur and every frame get the same transform."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from blur2video.data.dataset import Augment, augment_sample
from blur2video.train_config import resolve


def _sample(n: int = 5, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    frames = torch.rand(n, 3, size, size, dtype=torch.float64)
    return frames.mean(0), frames


@pytest.mark.parametrize("seed", range(16))
def test_every_augmentation_keeps_the_blur_the_mean_of_its_frames(seed: int) -> None:
    blur, frames = _sample()
    aug = Augment(crop=8, flips=True, reverse=True, transpose=True, channel_shuffle=True)
    b, f = augment_sample(blur, frames, aug, np.random.default_rng(seed), "test")
    assert b.shape == (3, 8, 8) and f.shape == (5, 3, 8, 8)
    torch.testing.assert_close(b, f.mean(0), rtol=0, atol=1e-12)


def test_transpose_and_channel_shuffle_are_applied_alike_and_all_happen() -> None:
    blur, frames = _sample()
    aug = Augment(transpose=True, channel_shuffle=True)
    seen_transposed, orders = False, set()
    for seed in range(40):
        b, f = augment_sample(blur, frames, aug, np.random.default_rng(seed), "test")
        for transposed in (False, True):
            for order in itertools.permutations(range(3)):
                want = blur[list(order)]
                want = want.transpose(-1, -2) if transposed else want
                if torch.equal(b, want):
                    seen_transposed |= transposed
                    orders.add(order)
                    frames_want = frames[:, list(order)]
                    assert torch.equal(f, frames_want.transpose(-1, -2) if transposed else frames_want)
    assert seen_transposed and len(orders) == 6


def test_new_augmentations_are_off_by_default_so_old_runs_reproduce() -> None:
    train = resolve(None, [])["train"]
    assert train["transpose"] is False and train["channel_shuffle"] is False
    blur, frames = _sample()
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    a = augment_sample(blur, frames, Augment(crop=8, flips=True, reverse=True), rng_a, "test")
    b = augment_sample(blur, frames, Augment(crop=8, flips=True, reverse=True, transpose=False, channel_shuffle=False), rng_b, "test")
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and rng_a.random() == rng_b.random()
