"""Turning sharp renders into a blurred exposure: sRGB averaging (as the paper) or linear light.

Every function takes numpy arrays (the camera-rotation renders, made without torch) and torch
tensors (video frames, scenes, training's degradations) alike, and gives back the same kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

ACCUMULATE_MODES = ("srgb", "linear")

Array = TypeVar("Array")  # np.ndarray or torch.Tensor


def _where(mask, a, b):
    """numpy's or torch's ``where`` by the arrays' kind, without importing torch for numpy."""
    return np.where(mask, a, b) if isinstance(mask, np.ndarray) else a.where(mask, b)


def srgb_to_linear(x: Array) -> Array:
    """IEC 61966-2-1 sRGB decoding."""
    return _where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: Array) -> Array:
    """IEC 61966-2-1 sRGB encoding."""
    x = x.clip(0.0, 1.0)
    return _where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1.0 / 2.4) - 0.055)


def mean_uint8(frames: torch.Tensor) -> torch.Tensor:
    """Exact mean of uint8 torch frames as float32: each frame is added once, in place, into an
    integer total (int16 holds up to 128 frames of 255), which one pass scales into the output.
    Numpy's casting adds and any reduction over the frame axis (``np.add.reduce``,
    ``Tensor.sum(0)``) were 2.5-9x slower (benchmarks/synth_video.py)."""
    import torch  # only the video synthesizer's frames come here, already as torch tensors

    total = frames[0].to(torch.int16 if frames.shape[0] <= 128 else torch.int32)
    for frame in frames[1:]:
        total.add_(frame)
    return total.float().mul_(1.0 / (255.0 * frames.shape[0]))


def _float32_copy(x: Array) -> Array:
    return x.astype(np.float32, copy=True) if isinstance(x, np.ndarray) else x.float().clone()


def accumulate(renders: Array, mode: str = "srgb") -> Array:
    """Average ``renders`` (T, ...) into one exposure (...), float32.

    ``srgb`` averages the stored values like the paper and GoPro; ``linear`` averages light, which
    is what a sensor does. Frames are added one after another into one float32 buffer: every
    element sees the same additions in the same order whatever the thread count (so the result is
    reproducible), and each frame is read once (so it runs at memory speed; see
    benchmarks/synth_video.py).
    """
    if mode not in ACCUMULATE_MODES:
        raise ValueError(f"unknown accumulation {mode!r}; choose one of {ACCUMULATE_MODES}")
    if isinstance(renders, np.ndarray) and renders.dtype == np.uint8:
        renders = renders.astype(np.float32) * np.float32(1.0 / 255.0)
    elif str(renders.dtype) == "torch.uint8":
        if mode == "srgb":  # 8-bit frames: an exact integer sum, independent of the thread count
            return mean_uint8(renders)
        renders = renders.float().div_(255.0)
    decode = srgb_to_linear if mode == "linear" else (lambda x: x)
    total = _float32_copy(decode(renders[0]))
    for frame in renders[1:]:
        total += decode(frame)
    total *= 1.0 / renders.shape[0]
    return linear_to_srgb(total) if mode == "linear" else total
