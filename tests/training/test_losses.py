"""Each loss term against a value computed by hand on a tiny tensor."""

from __future__ import annotations

import pytest
import torch

from blur2video.errors import Blur2VideoError
from blur2video.losses import LossConfig, compute_loss, consistency_loss, penalty_term, photometric_per_sample
from blur2video.model.network import Restoration


def test_photometric_loss_by_hand() -> None:
    # 1 sample, 3 frames of one 1x1 pixel: |0.5-0.25| = 0.25 on every channel of frame 0 only
    pred = torch.zeros(1, 3, 3, 1, 1)
    target = torch.zeros(1, 3, 3, 1, 1)
    pred[0, 0] = 0.5
    target[0, 0] = 0.25
    weights = (1.0, 2.0, 0.0, 0.0, 0.0, 3.0)
    got = photometric_per_sample([pred] * 6, [target] * 6, weights)
    assert got.item() == pytest.approx(0.25 * (1 + 2 + 3))


def test_middle_weight_scales_only_the_middle_frame() -> None:
    pred = torch.zeros(1, 3, 3, 1, 1)
    target = torch.zeros(1, 3, 3, 1, 1)
    target[0, 0], target[0, 1] = 0.25, 0.5  # frame 0 off by 0.25, the middle frame by 0.5
    weights = (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    assert photometric_per_sample([pred] * 6, [target] * 6, weights).item() == pytest.approx(0.75)
    assert photometric_per_sample([pred] * 6, [target] * 6, weights, middle_weight=4.0).item() == pytest.approx(
        0.25 + 4 * 0.5
    )
    with pytest.raises(Blur2VideoError, match="middle_weight"):
        LossConfig(middle_weight=-1.0)


def test_consistency_loss_by_hand() -> None:
    # N=3, 3 levels; frame 0's theta moves by 0.1 in one entry between level 0 and 1, else equal
    theta = torch.zeros(1, 3, 3, 2, 3)
    theta[0, 0, 1, 0, 2] = 0.6  # level 1, tx of frame 0
    theta[0, 1, 2, 1, 1] = 5.0  # the middle frame is ignored
    got = consistency_loss(theta, middle=1)
    # |0.6| enters two differences (l0-l1, l1-l2), each mean over the 6 entries
    assert got.item() == pytest.approx(2 * 0.6 / 6)


def test_penalty_by_hand_and_bounded() -> None:
    frames = torch.zeros(1, 3, 3, 2, 2)
    target = torch.zeros(1, 3, 3, 2, 2)
    target[0, 2] = 0.04  # mirror of frame 0
    target[0, 0] = 0.02  # mirror of frame 2
    target[0, 1] = 0.9  # the middle frame is its own mirror: never pushed away
    assert penalty_term(frames, target, bound=0.1).item() == pytest.approx(-(0.04 + 0.02))
    far = torch.ones(1, 3, 3, 2, 2) * 100.0
    assert penalty_term(far, target, bound=0.1).item() == pytest.approx(-0.2)  # capped: 2 frames x 0.1


def test_total_and_switches() -> None:
    frames = torch.rand(2, 3, 3, 4, 4)
    target = torch.rand(2, 3, 3, 4, 4)
    out = Restoration(
        frames=frames, scales=[frames] * 6, affines=torch.rand(2, 3, 5, 2, 3), image_affines=None, flows=[]
    )
    cfg = LossConfig(lambda_tc=0.3, lambda_pt=0.2)
    terms = compute_loss(out, target, cfg)
    assert terms["total"].item() == pytest.approx((terms["pml"] + 0.3 * terms["tcl"] + 0.2 * terms["pt"]).item())
    only = compute_loss(out, target, LossConfig(consistency=False, penalty=False))
    assert set(only) == {"pml", "total"} and only["total"].item() == pytest.approx(terms["pml"].item())
    with pytest.raises(Blur2VideoError):
        LossConfig(photometric=False)


def test_order_invariant_photometric_takes_the_better_order() -> None:
    target = torch.rand(2, 5, 3, 4, 4)
    pred = target.clone()
    pred[1] = target[1].flip(0)  # sample 1 predicted in reverse
    out = Restoration(frames=pred, scales=[pred] * 6, affines=torch.zeros(2, 5, 5, 2, 3), image_affines=None, flows=[])
    plain = compute_loss(out, target, LossConfig(consistency=False, penalty=False))
    invariant = compute_loss(out, target, LossConfig(consistency=False, penalty=False, order_invariant=True))
    assert plain["pml"].item() > 0.01
    assert invariant["pml"].item() == pytest.approx(0.0, abs=1e-7)


def test_order_free_flags_pick_the_samples_that_take_the_better_order() -> None:
    target = torch.rand(2, 5, 3, 4, 4)
    pred = target.flip(1)  # both samples predicted in reverse
    out = Restoration(frames=pred, scales=[pred] * 6, affines=torch.zeros(2, 5, 5, 2, 3), image_affines=None, flows=[])
    cfg = LossConfig(consistency=False, penalty=False)
    plain = photometric_per_sample(out.scales, [target] * 6, cfg.scale_weights)
    only_first = compute_loss(out, target, cfg, torch.tensor([True, False]))
    assert only_first["pml"].item() == pytest.approx(plain[1].item() / 2)
    # the flags override the config: a config that is order-invariant everywhere still follows them
    overridden = compute_loss(
        out, target, LossConfig(consistency=False, penalty=False, order_invariant=True), torch.tensor([False, False])
    )
    assert overridden["pml"].item() == pytest.approx(plain.mean().item())
