"""motion.png: its colours against matplotlib's HSV conversion, and a known motion drawn where
and in the colour the wheel says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from blur2video.motion_picture import GAP, PANEL, TITLE, colour_wheel, hsv_to_rgb, write_motion_png


def test_hsv_matches_matplotlib() -> None:
    from matplotlib.colors import hsv_to_rgb as reference

    hsv = np.random.default_rng(0).random((64, 3))
    np.testing.assert_allclose(hsv_to_rgb(hsv), reference(hsv), atol=1e-12)


def test_a_uniform_motion_is_painted_in_the_wheels_colour_for_its_direction(tmp_path: Path) -> None:
    n, h, w = 3, 48, 64
    flow = np.zeros((n, 2, h, w), np.float32)
    flow[0, 0] = 4.0  # frame 0: a flow along +x (right on the wheel)
    flow[2, 1] = -4.0  # frame 2: along -y (up)
    affines = np.tile(np.eye(3, dtype=np.float32)[:2], (n, 1, 1))
    affines[0, 0, 2], affines[2, 1, 2] = 4.0, -4.0
    write_motion_png(tmp_path / "motion.png", flow, affines)
    picture = np.asarray(Image.open(tmp_path / "motion.png").convert("RGB")).astype(int)
    top = GAP + 2 * TITLE
    wheel = (colour_wheel(PANEL) * 255).round().astype(int)
    right, up = wheel[PANEL // 2, PANEL - 3], wheel[2, PANEL // 2]

    def panel_colour(j: int) -> np.ndarray:  # a pixel between the arrows
        return picture[top + 2, GAP + j * (PANEL + GAP) + 2]

    assert np.abs(panel_colour(0) - right).max() <= 8, (panel_colour(0), right)
    assert np.abs(panel_colour(2) - up).max() <= 8, (panel_colour(2), up)
    assert panel_colour(1).max() == 0  # the middle frame does not move: black
    assert picture.shape[1] == GAP + (n + 1) * (PANEL + GAP)
