"""Turning sharp renders into a blurred exposure: sRGB averaging (as the paper) or linear light."""

from __future__ import annotations

import numpy as np
import torch

ACCUMULATE_MODES = ("srgb", "linear")


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 sRGB decoding."""
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 sRGB encoding."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1.0 / 2.4) - 0.055)


def _mean_uint8(frames: np.ndarray) -> np.ndarray:
    """Exact mean of up to 257 uint8 frames as float32: each frame is added once into a uint16
    total (small enough to stay in cache), which one pass scales into the output. A reduction
    over the frame axis (``np.add.reduce``) or the float maths in torch were 2-3x slower."""
    total = frames[0].astype(np.uint16)
    for frame in frames[1:]:
        np.add(total, frame, out=total)
    return np.multiply(total, np.float32(1.0 / (255.0 * frames.shape[0])), dtype=np.float32)


def accumulate(renders: torch.Tensor, mode: str = "srgb") -> torch.Tensor:
    """Average ``renders`` (T, C, H, W) into one exposure (C, H, W).

    ``srgb`` averages the stored values like the paper and GoPro; ``linear`` averages light, which
    is what a sensor does. Frames are added one after another into one float32 buffer: every
    element sees the same additions in the same order whatever the thread count (so the result is
    reproducible), and each frame is read once (so it runs at memory speed; see
    benchmarks/synth_video.py).
    """
    if mode not in ACCUMULATE_MODES:
        raise ValueError(f"unknown accumulation {mode!r}; choose one of {ACCUMULATE_MODES}")
    if renders.dtype == torch.uint8:
        if mode == "srgb" and renders.shape[0] <= 257:  # 8-bit frames: exact uint16 sum, half the bytes of float32
            return torch.from_numpy(_mean_uint8(renders.numpy()))
        renders = renders.float().div_(255.0)
    decode = srgb_to_linear if mode == "linear" else (lambda x: x)
    total = decode(renders[0]).float().clone()
    for frame in renders[1:]:
        total.add_(decode(frame))
    total.mul_(1.0 / renders.shape[0])
    return linear_to_srgb(total) if mode == "linear" else total
