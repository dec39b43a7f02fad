"""The camera's after-exposure effects on the blurred input (data/degrade.py)."""

import numpy as np
import pytest
import torch

from blur2video.data.dataset import Augment, augment_sample
from blur2video.data.degrade import Degradation, add_sensor_noise, degrade_blur, jpeg_roundtrip
from blur2video.errors import Blur2VideoError
from blur2video.synth.accumulate import srgb_to_linear


def test_noise_variance_follows_shot_and_read_model():
    """On flat grey patches the measured variance in linear light is shot * x + read."""
    rng = np.random.default_rng(0)
    shot, read = 4e-3, 1e-4
    for grey in (0.2, 0.5, 0.8):
        flat = torch.full((3, 256, 256), grey)
        noisy = add_sensor_noise(flat, shot, read, rng)
        linear = srgb_to_linear(noisy)
        x = float(srgb_to_linear(torch.tensor(grey)))
        assert float(linear.mean()) == pytest.approx(x, abs=3e-3)
        assert float(linear.var()) == pytest.approx(shot * x + read, rel=0.05)


def test_jpeg_roundtrip_loses_what_jpeg_loses():
    rng = np.random.default_rng(1)
    image = torch.from_numpy(rng.random((3, 64, 64)).astype(np.float32))
    low, high = jpeg_roundtrip(image, 20), jpeg_roundtrip(image, 95)
    err_low, err_high = float((low - image).abs().mean()), float((high - image).abs().mean())
    assert err_high < err_low
    assert low.shape == image.shape and low.dtype == torch.float32


def test_only_the_blur_is_degraded_and_reproducibly():
    rng = np.random.default_rng(2)
    blur = torch.from_numpy(rng.random((3, 48, 48)).astype(np.float32))
    frames = torch.from_numpy(rng.random((7, 3, 48, 48)).astype(np.float32))
    aug = Augment(degrade=Degradation(noise=1.0, jpeg=1.0))
    b1, f1 = augment_sample(blur, frames, aug, np.random.default_rng([5, 0, 3]), "x")
    b2, _ = augment_sample(blur, frames, aug, np.random.default_rng([5, 0, 3]), "x")
    assert torch.equal(f1, frames)
    assert not torch.equal(b1, blur)
    assert torch.equal(b1, b2)
    off, _ = augment_sample(blur, frames, Augment(), np.random.default_rng(0), "x")
    assert torch.equal(off, blur)


def test_chance_zero_is_identity_and_bad_settings_refused():
    blur = torch.rand(3, 16, 16)
    assert torch.equal(degrade_blur(blur, Degradation(), np.random.default_rng(0)), blur)
    with pytest.raises(Blur2VideoError, match="train.noise"):
        Degradation(noise=1.5)
    with pytest.raises(Blur2VideoError, match="jpeg_quality"):
        Degradation(jpeg_quality=5)
