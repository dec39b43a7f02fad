"""Turning sharp renders into a blurred exposure: sRGB averaging (as the paper) or linear light."""

from __future__ import annotations

import torch

ACCUMULATE_MODES = ("srgb", "linear")


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 sRGB decoding."""
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 sRGB encoding."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1.0 / 2.4) - 0.055)


def accumulate(renders: torch.Tensor, mode: str = "srgb") -> torch.Tensor:
    """Average ``renders`` (T, C, H, W) into one exposure (C, H, W).

    ``srgb`` averages the stored values like the paper and GoPro; ``linear`` averages light, which
    is what a sensor does. The sum runs in float64 so the result does not depend on thread count.
    """
    if mode == "srgb":
        return renders.double().mean(0).float()
    if mode == "linear":
        return linear_to_srgb(srgb_to_linear(renders.double()).mean(0)).float()
    raise ValueError(f"unknown accumulation {mode!r}; choose one of {ACCUMULATE_MODES}")
