"""The reblur fallback (model/reblur_gate.py): frames that do not average back to the blur fall
back towards it."""

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from blur2video.model.config import ModelConfig
from blur2video.model.network import Blur2Video
from blur2video.model.reblur_gate import RELATIVE, SIGMA, reblur_confidence


def test_frames_that_average_to_the_blur_are_trusted():
    torch.manual_seed(0)
    frames = torch.rand(2, 5, 3, 40, 48)
    assert torch.allclose(reblur_confidence(frames.mean(1), frames, 0.02), torch.ones(2, 40, 48), atol=1e-5)


def test_a_constant_residual_of_the_scale_gives_one_over_e():
    blur = torch.full((1, 3, 32, 32), 0.5)
    frames = blur[:, None].repeat(1, 3, 1, 1, 1) + 0.02
    one_over_e = torch.full((1, 32, 32), float(np.exp(-1)))
    assert torch.allclose(reblur_confidence(blur, frames, 0.02, relative=0.0), one_over_e, atol=1e-5)
    # the frames departed from the blur by 0.02 too: the relative term allows 0.2 of that on top
    relaxed = float(np.exp(-((0.02 / (0.02 + 0.2 * 0.02)) ** 2)))
    assert torch.allclose(reblur_confidence(blur, frames, 0.02, relative=0.2), torch.full((1, 32, 32), relaxed))


def test_confidence_matches_scipy_gaussian_of_the_squared_residual():
    """An independent reference: scipy's Gaussian (whole-sample mirror borders, as torch's
    reflect padding; radius 3 sigma) of the channel-mean squared residual and of the frames'
    mean squared departure from the blur."""
    rng = np.random.default_rng(1)
    blur = rng.random((3, 50, 70)).astype(np.float32)
    frames = rng.random((7, 3, 50, 70)).astype(np.float32)
    residual = ((blur - frames.mean(0)) ** 2).mean(0).astype(np.float64)
    departure = ((frames - blur) ** 2).mean((0, 1)).astype(np.float64)
    miss, moved = (np.sqrt(gaussian_filter(x, SIGMA, mode="mirror", truncate=3.0)) for x in (residual, departure))
    expected = np.exp(-((miss / (0.1 + RELATIVE * moved)) ** 2))
    got = reblur_confidence(torch.from_numpy(blur)[None], torch.from_numpy(frames)[None], 0.1)[0].numpy()
    assert np.abs(got - expected).max() < 1e-5


def test_invented_motion_falls_back_and_the_middle_stays():
    """Frames that are the blur shifted the same way (motion the photo does not show: their mean
    misses the blur at every edge) fall back towards the blur where they miss it."""
    torch.manual_seed(2)
    blur = torch.zeros(1, 3, 48, 48)
    blur[..., 16:32, 16:32] = 1.0
    invented = torch.roll(blur, 6, -1)[:, None].repeat(1, 3, 1, 1, 1)
    confidence = reblur_confidence(blur, invented, 0.02)
    assert float(confidence[0, 24, 16]) < 0.01  # at the square's edge
    assert float(confidence[0, 2, 2]) > 0.99  # far from it


def test_network_applies_the_fallback_only_to_the_other_frames():
    torch.manual_seed(3)
    small = {"base_channels": 4, "growth": 4, "dense_layers": (1, 1, 1, 1, 1)}
    model = Blur2Video(ModelConfig.preset("small", frames=3, fallback=0.02, **small)).eval()
    blur = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out, raw = model(blur), model(blur, fallback=False)
    assert raw.confidence is None and out.confidence is not None
    assert torch.equal(out.frames[:, 1], raw.frames[:, 1]) and torch.all(out.confidence[:, 1] == 1)
    trust = reblur_confidence(blur, raw.frames, 0.02)
    assert torch.allclose(out.confidence[:, 0], trust) and torch.allclose(out.confidence[:, 2], trust)
    expected = blur + trust[:, None] * (raw.frames[:, 0] - blur)
    assert torch.allclose(out.frames[:, 0], expected, atol=1e-6)


def test_fallback_multiplies_the_learned_gate():
    torch.manual_seed(4)
    small = {"base_channels": 4, "growth": 4, "dense_layers": (1, 1, 1, 1, 1)}
    model = Blur2Video(ModelConfig.preset("small", frames=3, gate=True, fallback=0.05, **small)).eval()
    blur = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out, gated = model(blur), model(blur, fallback=False)
        raw = model(blur, gate=False, fallback=False)
        learned = model.gate.confidence(blur, raw.frames)
    trust = reblur_confidence(blur, gated.frames, 0.05)  # read off the frames the gate hands on
    assert torch.allclose(out.confidence[:, 0], learned[:, 0] * trust, atol=1e-6)
    expected = blur + out.confidence[:, 0:1] * (raw.frames[:, 0] - blur)  # one blend at the product
    assert torch.allclose(out.frames[:, 0], expected, atol=1e-5)
