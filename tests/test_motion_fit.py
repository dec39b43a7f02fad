"""The global motion fitted to the blur: its path, its fit on a blur made by a known path (in pixels,
on a photo that is not square), and its report in motion.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import skimage.data
import torch

from blur2video.geometry.warp import affine_to_flow, conjugate, pixels_to_normalised
from blur2video.motion_fit import (
    EYE,
    fit_blur_motion,
    fit_path,
    linear_path,
    pixel_affines_to_flow,
    project_to_path,
    reblur_along,
)


def _photo(h: int, w: int) -> torch.Tensor:
    return torch.from_numpy(skimage.data.astronaut()[80 : 80 + h, 120 : 120 + w].copy()).permute(2, 0, 1).float() / 255


def test_the_path_is_linear_symmetric_and_its_projection_exact() -> None:
    generator = torch.tensor([[0.01, -0.02, 0.05], [0.03, 0.0, -0.04]])
    path = linear_path(generator, 7)
    torch.testing.assert_close(path[3], EYE)
    torch.testing.assert_close(path[0] - EYE, -(path[6] - EYE))
    torch.testing.assert_close(project_to_path(path), generator)


def test_the_fit_finds_the_path_that_made_the_blur() -> None:
    middle = _photo(128, 128)[None]
    truth = torch.tensor([[0.0, 0.0, 0.06], [0.0, 0.0, 0.03]])  # 3.8 and 1.9 px each way of 128 px
    blur = reblur_along(middle, truth, 7)
    found = fit_path(blur, middle, 7, torch.tensor([[0.0, 0.0, 0.03], [0.0, 0.0, 0.0]]), steps=150)
    assert (found - truth).abs().max() < 0.01, found


def test_the_written_out_adam_steps_as_torch_optim_adam_does() -> None:
    from blur2video.motion_fit import _rms_inside

    middle = _photo(48, 64)[None]
    blur = reblur_along(middle, torch.tensor([[0.0, 0.01, 0.05], [0.0, 0.0, -0.03]]), 5)
    start = torch.tensor([[0.0, 0.0, 0.01], [0.0, 0.0, 0.0]])
    generator = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([generator], lr=2e-3)
    for _ in range(12):
        opt.zero_grad()
        (_rms_inside(reblur_along(middle, generator, 5), blur) ** 2).backward()
        opt.step()
    torch.testing.assert_close(fit_path(blur, middle, 5, start, steps=12), generator.detach(), rtol=0, atol=1e-6)


def test_pixel_affines_in_and_out_on_a_photo_that_is_not_square() -> None:
    """A blur made along a known pixel path (4 px right, 2 px down at the ends, a slight turn) is
    fitted back in pixels from a start that is half the way there, also in inference mode."""
    h, w, n = 96, 160, 5
    middle = _photo(h, w)
    s = np.linspace(-1, 1, n)[:, None, None]
    step = np.array([[0.0, -0.01, 4.0], [0.01, 0.0, 2.0]])
    truth = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]) + s * step  # (N, 2, 3) pixel affines
    norm = conjugate(torch.from_numpy(truth), pixels_to_normalised(h, w)).float()
    blur = reblur_along(middle[None], project_to_path(norm), n)[0]
    start = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]) + s * step / 2
    with torch.inference_mode():
        fit = fit_blur_motion(blur, middle, start.astype(np.float32), steps=150)
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float).T
    error = np.abs(fit.affines.astype(float) @ corners - truth @ corners).max()
    assert error < 0.3, (error, fit.affines[0])
    assert fit.rms_fitted < fit.rms_network / 3


def test_motion_json_reports_the_fit_beside_the_networks_motion(tmp_path: Path) -> None:
    from PIL import Image

    from blur2video.cli import main

    Image.fromarray(skimage.data.coffee()[100:196, 200:328]).save(tmp_path / "cup.png")
    assert main(["restore", str(tmp_path / "cup.png"), "--out", str(tmp_path / "out"), "--format", "gif"]) == 0
    summary = json.loads((tmp_path / "out" / "cup" / "motion.json").read_text())
    fit = summary["blur_fit"]
    assert fit["reblur_rms_fitted"] >= 0 and fit["reblur_rms_network"] >= 0 and "convention" in fit
    if fit["reblur_rms_fitted"] < fit["reblur_rms_network"]:
        assert np.asarray(fit["affine_px"]).shape == (len(summary["frames"]), 2, 3)
    else:
        assert "affine_px" not in fit


def test_pixel_affines_give_the_flow_of_their_normalised_warp() -> None:
    """Against geometry.affine_to_flow, the flow of the same warp in normalised coordinates."""
    h, w = 24, 40
    pixel = np.array([[[1.02, 0.01, -1.5], [-0.02, 0.98, 2.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    theta = conjugate(torch.from_numpy(pixel), pixels_to_normalised(h, w)).float()
    torch.testing.assert_close(pixel_affines_to_flow(pixel, h, w), affine_to_flow(theta, h, w), atol=1e-4, rtol=0)
