"""experiments/motion_direction.py: the direction check of reported motion against DIS optical flow."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motion_direction import agreement, cosine_where_moving, dis_flow  # noqa: E402


def test_cosine_counts_only_moving_pixels_and_sign():
    ref = np.zeros((2, 8, 8))
    ref[0, :4] = 3.0  # the top half moves right by 3 px, the bottom is still
    same, opposite = ref.copy(), -ref
    assert cosine_where_moving(same, ref, 1.0) == pytest.approx(1.0)
    assert cosine_where_moving(opposite, ref, 1.0) == pytest.approx(-1.0)
    assert cosine_where_moving(np.zeros_like(ref), ref, 1.0) == 0.0
    assert np.isnan(cosine_where_moving(same, np.zeros_like(ref), 1.0))


def test_agreement_takes_the_better_order():
    ref_first, ref_last = np.zeros((2, 4, 4)), np.zeros((2, 4, 4))
    ref_first[0], ref_last[0] = -2.0, 2.0
    model = np.zeros((3, 2, 4, 4))
    model[0, 0], model[2, 0] = 2.0, -2.0  # the right motion, reported in reverse order
    row = agreement(model, ref_first, ref_last, 1.0)
    assert row == {"cos_first": 1.0, "cos_last": 1.0, "reversed": True}


def test_dis_recovers_a_known_shift():
    pytest.importorskip("cv2")
    image = skimage.data.astronaut()[100:228, 100:228].astype(np.float32) / 255
    shifted = np.roll(image, 3, axis=1)  # shifted(x) = image(x - 3): backward flow -3 in x
    flow = dis_flow(shifted, image)
    inner = flow[:, 16:-16, 16:-16]
    assert np.median(inner[0]) == pytest.approx(-3.0, abs=0.3)
    assert np.median(inner[1]) == pytest.approx(0.0, abs=0.3)
