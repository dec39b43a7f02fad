"""Training augmentations keep every sample physically consistent: the blur stays the exact mean
of its frames, and the blur and every frame get the same transform."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from blur2video.data.dataset import Augment, augment_sample
from blur2video.errors import Blur2VideoError
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
    train = resolve(None, []).train
    assert train.transpose is False and train.channel_shuffle is False and train.defocus == 0.0
    blur, frames = _sample()
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    a = augment_sample(blur, frames, Augment(crop=8, flips=True, reverse=True), rng_a, "test")
    b = augment_sample(
        blur, frames, Augment(crop=8, flips=True, reverse=True, transpose=False, channel_shuffle=False), rng_b, "test"
    )
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=False)) and rng_a.random() == rng_b.random()


@pytest.mark.parametrize("seed", range(8))
def test_defocus_keeps_the_blur_the_mean_of_its_frames_and_softens(seed: int) -> None:
    blur, frames = _sample(size=24)
    b, f = augment_sample(blur, frames, Augment(defocus=1.0, defocus_sigma=2.0), np.random.default_rng(seed), "test")
    torch.testing.assert_close(b, f.mean(0), rtol=0, atol=1e-12)
    assert f.diff(dim=-1).abs().mean() < 0.8 * frames.diff(dim=-1).abs().mean()


def test_defocus_of_a_point_is_a_gaussian_of_the_drawn_sigma() -> None:
    """A whole-view defocus spreads a bright point into a normalised Gaussian whose variance is
    sigma squared for some sigma in [0.5, defocus_sigma]."""
    frames = torch.zeros(3, 3, 41, 41, dtype=torch.float64)
    frames[:, :, 20, 20] = 1.0
    seen = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        b, f = augment_sample(frames.mean(0), frames, Augment(defocus=1.0, defocus_sigma=2.0), rng, "test")
        image = f[0, 0]
        if not (torch.allclose(image, image.T, atol=1e-15) and torch.allclose(image, image.flip(0), atol=1e-15)):
            continue  # blended by the depth-of-field map, not symmetric about the point
        profile = image.sum(0)
        seen += 1
        x = torch.arange(41, dtype=torch.float64) - 20
        variance = float((profile * x**2).sum())
        assert abs(float(profile.sum()) - 1.0) < 1e-9
        assert 0.5**2 * 0.95 <= variance <= 2.0**2  # truncation at 3 sigma lowers it a little
    assert seen > 5


def test_defocus_settings_are_checked() -> None:

    with pytest.raises(Blur2VideoError, match="train.defocus"):
        Augment(defocus=1.5)
    with pytest.raises(Blur2VideoError, match="defocus_sigma"):
        Augment(defocus=0.5, defocus_sigma=0.1)


def test_defocus_reaches_the_training_stream_only() -> None:
    from blur2video.train_data import build_datasets

    stream = {"kind": "scenes", "size": 32, "textures": "skimage:camera"}
    cfg = resolve(
        None,
        [
            {
                "train": {"defocus": 0.4, "defocus_sigma": 1.5, "crop": 32},
                "data": {"stream": [stream], "samples_per_epoch": 4, "val_samples": 2},
            }
        ],
    )
    train, val = build_datasets(cfg, 3)
    assert (train.augment.defocus, train.augment.defocus_sigma) == (0.4, 1.5)
    assert val.augment.defocus == 0.0


def test_order_invariant_per_stream_reaches_every_sample() -> None:
    from blur2video.train_data import build_datasets

    rotation = {
        "kind": "rotation",
        "source": "skimage:camera",
        "source_kind": "photo",
        "size": 32,
        "max_angle_deg": 1.0,
        "order_invariant": True,
    }
    scenes = {"kind": "scenes", "size": 32, "textures": "skimage:camera"}
    for default, expected in ((False, [True, False]), (True, [True, True])):
        cfg = resolve(
            None,
            [
                {
                    "loss": {"order_invariant": default},
                    "train": {"crop": 32},
                    "data": {"stream": [rotation, scenes], "samples_per_epoch": 8, "val_samples": 2},
                }
            ],
        )
        train, val = build_datasets(cfg, 3)
        assert train.order_free == val.order_free == expected
        for i in range(4):
            _, _, flag = train[i]
            assert flag.dtype == torch.bool
    first = train[0]
    job = int(np.random.default_rng([train.seed, 0, 0]).choice(2, p=train.p))
    assert bool(first[2]) == expected[job]
    with pytest.raises(
        Blur2VideoError, match=r"\[\[data.stream\]\] 1 \(scenes\): order_invariant = \"yes\": expected true or false"
    ):
        resolve(None, [{"data": {"stream": [{**scenes, "order_invariant": "yes"}]}}])
