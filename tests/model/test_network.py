"""The network: shapes for every N and switch, identity at initialisation, gradients, determinism."""

from __future__ import annotations

import itertools

import pytest
import torch

from blur2video.errors import Blur2VideoError
from blur2video.model import Blur2Video, ModelConfig
from blur2video.model.baselines import JinSequential
from blur2video.model.transformers import FeatureTransformer, LocalWarpingLayer, SpatialTransformer

TINY = dict(base_channels=4, growth=4)
SWITCHES = [
    dict(stn=s, local_warp=lw, itn=i, refine=r) for s, lw, i, r in itertools.product([True, False], repeat=4) if s or lw
]


@pytest.mark.parametrize("frames", [3, 5, 7, 9])
def test_shapes_for_every_n(frames: int) -> None:
    out = Blur2Video(ModelConfig(frames=frames, **TINY)).eval()(torch.rand(2, 3, 37, 50))
    assert out.frames.shape == (2, frames, 3, 37, 50)
    assert [s.shape[-2:] for s in out.scales] == [(2, 2), (3, 4), (5, 7), (10, 13), (19, 25), (37, 50)]
    assert out.affines.shape == (2, frames, 5, 2, 3) and out.image_affines.shape == (2, frames, 6, 2, 3)
    assert [f.shape[1:3] for f in out.flows] == [(frames, 2)] * 5


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: "-".join(k for k, v in s.items() if v))
def test_every_ablation_variant_runs(switches: dict) -> None:
    out = Blur2Video(ModelConfig(frames=3, **TINY, **switches))(torch.rand(1, 3, 32, 32))
    assert out.frames.shape == (1, 3, 3, 32, 32) and torch.isfinite(out.frames).all()
    assert (out.image_affines is not None) == switches["itn"]
    assert bool(out.flows) == switches["local_warp"]


def test_ftn_needs_a_warp() -> None:
    with pytest.raises(Blur2VideoError):
        ModelConfig(stn=False, local_warp=False)


def test_transformers_are_identity_at_init() -> None:
    feature = torch.rand(2, 6, 16, 16)
    ftn = FeatureTransformer(6, frames=4)
    warped, theta, flow = ftn(feature)
    assert torch.equal(theta, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 4, 2, 3))
    assert torch.equal(flow, torch.zeros(2, 4, 2, 16, 16))
    # frame-major layout: for each frame [STN copy (6) ; LW copy (6)], each equal to the input
    per_frame = warped.view(2, 4, 2, 6, 16, 16)
    assert torch.allclose(per_frame, feature[:, None, None].expand_as(per_frame), atol=1e-6)
    out = Blur2Video(ModelConfig(frames=5, **TINY))(torch.rand(1, 3, 32, 32))
    identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    assert torch.equal(out.affines, identity.expand_as(out.affines))
    assert torch.equal(out.image_affines, identity.expand_as(out.image_affines))
    assert all(torch.equal(f, torch.zeros_like(f)) for f in out.flows)


def test_every_parameter_gets_a_gradient_and_nothing_is_nan() -> None:
    model = Blur2Video(ModelConfig(frames=5, **TINY))
    # heads start at zero (identity transforms), which blocks gradients behind them; give them
    # small weights so the test sees every path
    for m in model.modules():
        if isinstance(m, (SpatialTransformer, LocalWarpingLayer)):
            torch.nn.init.normal_(m.head.weight, std=1e-3)
    for name, p in model.named_parameters():
        if "image" in name and p.dim() == 4:  # zero-initialised image heads
            torch.nn.init.normal_(p, std=1e-3)
    out = model(torch.rand(2, 3, 32, 48))
    loss = sum(s.square().mean() for s in out.scales) + out.affines.square().mean()
    loss = loss + sum(f.square().mean() for f in out.flows)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_fresh_network_outputs_the_blur_at_every_frame_and_scale() -> None:
    """Zero image heads + identity transforms: training starts from "every frame is the blur"."""
    model = Blur2Video(ModelConfig(frames=5, **TINY)).eval()
    blur = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        out = model(blur)
    for t in range(5):
        torch.testing.assert_close(out.frames[:, t], blur, atol=1e-5, rtol=0)
    coarse = torch.nn.functional.avg_pool2d(blur, 32)
    torch.testing.assert_close(out.scales[0][:, 0], coarse, atol=1e-5, rtol=0)


def test_eval_is_deterministic() -> None:
    model = Blur2Video(ModelConfig(frames=3, **TINY)).eval()
    x = torch.rand(1, 3, 33, 31)
    with torch.inference_mode():
        assert torch.equal(model(x).frames, model(x).frames)


@pytest.mark.parametrize("frames", [3, 7])
def test_jin_baseline_runs_end_to_end(frames: int) -> None:
    model = JinSequential(ModelConfig(frames=frames, **TINY))
    out = model(torch.rand(2, 3, 35, 40))
    assert out.frames.shape == (2, frames, 3, 35, 40) and len(out.scales) == 6
    out.frames.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_presets() -> None:
    small, paper = ModelConfig.preset("small"), ModelConfig.preset("paper", frames=3)
    assert small.base_channels < paper.base_channels and paper.frames == 3
    with pytest.raises(Blur2VideoError):
        ModelConfig.preset("huge")


def test_fast_preset_thins_only_the_fine_dense_blocks() -> None:
    from blur2video.model.flops import count_flops

    small, fast = ModelConfig.preset("small"), ModelConfig.preset("fast")
    assert fast.dense_layers == (5, 5, 3, 1, 1) and small.dense_layers == (5,) * 5
    model = Blur2Video(fast)
    assert [len(b.dense.convs) for b in model.middle_decoder.blocks] == [5, 5, 3, 1, 1]
    assert all([len(b.dense.convs) for b in d.blocks] == [5, 5, 3, 1, 1] for d in model.frame_decoders)
    flops = {}
    for name, cfg in (("small", small), ("fast", fast)):
        model = Blur2Video(cfg).eval()
        with torch.no_grad():
            flops[name] = count_flops(lambda model=model: model(torch.rand(1, 3, 64, 64)))
    assert flops["small"] > 2.4 * flops["fast"]  # 27.9 vs 11.1 GFLOP at 256x256


@pytest.mark.parametrize("layers", [(5, 5, 5, 5), (5, 5, 0, 1, 1)])
def test_dense_layers_are_checked(layers: tuple) -> None:
    with pytest.raises(Blur2VideoError, match="dense_layers"):
        ModelConfig(dense_layers=layers)


def test_dense_layers_survive_a_checkpoint(tmp_path) -> None:
    from blur2video.checkpoints import load_model, save_model

    model = Blur2Video(ModelConfig(frames=3, dense_layers=(2, 2, 2, 1, 1), **TINY))
    save_model(tmp_path / "m.safetensors", model)
    loaded, _ = load_model(tmp_path / "m.safetensors")
    assert loaded.config == model.config and loaded.config.dense_layers == (2, 2, 2, 1, 1)
    x = torch.rand(1, 3, 40, 40)
    torch.testing.assert_close(loaded(x).frames, model.eval()(x).frames)


def test_activations_run_channels_last() -> None:
    """Every convolution sees a channels-last input (3x faster on CPU than NCHW at these widths)."""
    model = Blur2Video(ModelConfig(frames=5, **TINY)).eval()
    layouts = []
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            module.register_forward_hook(
                lambda m, i, o: layouts.append(i[0].is_contiguous(memory_format=torch.channels_last))
            )
    model(torch.rand(1, 3, 64, 64))  # an NCHW input, as callers give it
    assert layouts and all(layouts)


def test_inference_is_the_training_function() -> None:
    """One path: no layer switches to another implementation without gradients (the kernel-bank
    head's pruning aside, which this model has not). Perturbed motion heads, so the warps move
    things; a batch and odd sizes padded inside."""
    torch.manual_seed(0)
    model = Blur2Video(ModelConfig.preset("small", frames=5)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "head" in name or "to_image" in name:
                p.add_(0.02 * torch.randn_like(p))
    blur = torch.rand(2, 3, 181, 203)
    with torch.inference_mode():
        fast = model(blur)
    slow = model(blur)
    torch.testing.assert_close(fast.frames, slow.frames, rtol=0, atol=0)
    for a, b in zip(fast.flows, slow.flows, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
