"""experiments/motion_fit.py: the linear path, its projection, and the fit on a blur made by it."""

from __future__ import annotations

import sys
from pathlib import Path

import skimage.data
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motion_fit import EYE, fit_path, linear_path, project_to_path, reblur  # noqa: E402


def test_the_path_is_linear_symmetric_and_its_projection_exact():
    generator = torch.tensor([[0.01, -0.02, 0.05], [0.03, 0.0, -0.04]])
    path = linear_path(generator, 7)
    torch.testing.assert_close(path[3], EYE)
    torch.testing.assert_close(path[0] - EYE, -(path[6] - EYE))
    torch.testing.assert_close(project_to_path(path), generator)


def test_the_fit_finds_the_motion_that_made_the_blur():
    torch.manual_seed(0)
    photo = torch.from_numpy(skimage.data.astronaut()[100:228, 150:278].copy()).permute(2, 0, 1).float() / 255
    middle = photo[None]
    truth = torch.tensor([[0.0, 0.0, 0.06], [0.0, 0.0, 0.03]])  # 3.8 and 1.9 px each way of 128 px
    blur = reblur(middle, truth, 7)
    start = torch.tensor([[0.0, 0.0, 0.03], [0.0, 0.0, 0.0]])
    found = fit_path(blur, middle, 7, [start], steps=150, scale=1.0, lr=2e-3)
    assert (found - truth).abs().max() < 0.01, found
