"""The exposure accumulator against plain float64 means (the definition of the blur)."""

import numpy as np
import pytest
import torch

from blur2video.synth.accumulate import accumulate, linear_to_srgb, srgb_to_linear


@pytest.mark.parametrize("frames", [3, 7, 128, 129, 300])
def test_uint8_mean_is_exact(frames: int) -> None:
    rng = np.random.default_rng(frames)
    renders = rng.integers(0, 256, (frames, 3, 9, 11), dtype=np.uint8)
    renders[:, 0, 0, 0] = 255  # the largest sum the uint16 total must hold
    got = accumulate(torch.from_numpy(renders))
    want = renders.astype(np.float64).mean(axis=0) / 255.0
    assert got.dtype == torch.float32 and got.shape == (3, 9, 11)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-7)


def test_uint8_and_float_paths_agree() -> None:
    renders = torch.randint(0, 256, (7, 3, 16, 16), dtype=torch.uint8)
    as_float = accumulate(renders.float() / 255.0)
    torch.testing.assert_close(accumulate(renders), as_float, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        accumulate(renders, "linear"), accumulate(renders.float() / 255.0, "linear"), rtol=0, atol=1e-6
    )


def test_linear_mode_averages_light() -> None:
    renders = torch.rand(5, 3, 8, 8)
    want = linear_to_srgb(srgb_to_linear(renders.double()).mean(0)).float()
    torch.testing.assert_close(accumulate(renders, "linear"), want, rtol=0, atol=1e-5)
    black_white = torch.stack([torch.zeros(3, 1, 1), torch.ones(3, 1, 1)])
    assert accumulate(black_white, "linear").flatten().tolist() == pytest.approx(
        [0.7354] * 3, abs=1e-3
    )  # half the light is not sRGB 0.5


def test_result_does_not_depend_on_threads() -> None:
    renders = torch.rand(7, 3, 64, 64)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = accumulate(renders)
        torch.set_num_threads(2)
        two = accumulate(renders)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown accumulation"):
        accumulate(torch.rand(2, 3, 4, 4), "gamma")


@pytest.mark.parametrize("mode", ["srgb", "linear"])
def test_numpy_and_torch_renders_give_the_same_exposure(mode: str) -> None:
    """The rotation renderer hands numpy arrays, video and scenes torch tensors: one definition."""
    renders = np.random.default_rng(2).random((9, 5, 6, 3), dtype=np.float32)
    from_numpy = accumulate(renders, mode)
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == np.float32
    np.testing.assert_allclose(from_numpy, accumulate(torch.from_numpy(renders), mode).numpy(), rtol=0, atol=1e-6)
    as_uint8 = (renders * 255).round().astype(np.uint8)
    np.testing.assert_allclose(
        accumulate(as_uint8, mode), accumulate(torch.from_numpy(as_uint8), mode).numpy(), rtol=0, atol=1e-6
    )
