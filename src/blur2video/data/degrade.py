"""What a real camera adds to a blurred photo after the exposure: sensor noise and JPEG.

Synthetic blur is the clean mean of its renders, but a real blurred photo carries shot and read
noise (one exposure, not the mean of seven noisy ones) and JPEG blocking. A network trained on
clean blur learns to sharpen everything that looks like an edge, and on a real photo it sharpens
the noise instead of the blur (issue 24). Only the blurred input is degraded: the targets stay
the clean frames, so the network learns to restore through the noise.

The noise follows the heteroscedastic model of Brooks et al., "Unprocessing Images for Learned
Raw Denoising" (CVPR 2019): in linear light, variance = shot * x + read, with log(shot) uniform
and log(read) tied to it by their fit to real sensors.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..errors import Blur2VideoError
from ..synth.accumulate import linear_to_srgb, srgb_to_linear

MIN_SHOT = 1e-4  # the quietest sensor of the draw (Brooks et al.'s lower bound)


@dataclass(frozen=True)
class Degradation:
    """Chances and strengths of the camera's after-exposure effects (0 turns each off).

    ``noise``: chance that a sample gets sensor noise, with the shot-noise scale drawn
    log-uniformly in [1e-4, ``max_shot``] (1.2e-2 is Brooks et al.'s noisiest phone sensor);
    ``jpeg``: chance that it is JPEG-compressed at a quality drawn uniformly in
    [``jpeg_quality``, 95]."""

    noise: float = 0.0
    max_shot: float = 1.2e-2
    jpeg: float = 0.0
    jpeg_quality: int = 60

    def __post_init__(self) -> None:
        for name in ("noise", "jpeg"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise Blur2VideoError(f"train.{name} = {getattr(self, name)}: a chance, between 0 and 1")
        if not MIN_SHOT <= self.max_shot <= 0.1:
            raise Blur2VideoError(
                f"train.noise_max_shot = {self.max_shot}: the largest shot-noise scale, in [{MIN_SHOT}, 0.1]"
            )
        if not 10 <= self.jpeg_quality <= 95:
            raise Blur2VideoError(f"train.jpeg_quality = {self.jpeg_quality}: the lowest JPEG quality, in [10, 95]")

    @property
    def active(self) -> bool:
        return self.noise > 0 or self.jpeg > 0


def add_sensor_noise(image: torch.Tensor, shot: float, read: float, rng: np.random.Generator) -> torch.Tensor:
    """sRGB image (3, H, W) in [0, 1] with Gaussian noise of variance ``shot * x + read`` added in
    linear light, then re-encoded and clipped as a camera would."""
    linear = srgb_to_linear(image.clamp(0, 1))
    std = torch.sqrt(linear * shot + read)
    noise = torch.from_numpy(rng.standard_normal(image.shape).astype(np.float32))
    return linear_to_srgb(linear + std * noise)


def jpeg_roundtrip(image: torch.Tensor, quality: int) -> torch.Tensor:
    """sRGB image (3, H, W) in [0, 1] through an 8-bit JPEG of ``quality`` and back."""
    pixels = (image.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(decoded).permute(2, 0, 1).contiguous()


def degrade_blur(blur: torch.Tensor, settings: Degradation, rng: np.random.Generator) -> torch.Tensor:
    """The blurred input as a camera would store it: noise first (at the sensor), JPEG last."""
    if settings.noise > 0 and rng.random() < settings.noise:
        log_shot = rng.uniform(math.log(MIN_SHOT), math.log(settings.max_shot))
        log_read = 2.18 * log_shot + 1.20 + rng.normal(0.0, 0.26)  # Brooks et al.'s fit to real sensors
        blur = add_sensor_noise(blur, math.exp(log_shot), math.exp(log_read), rng)
    if settings.jpeg > 0 and rng.random() < settings.jpeg:
        blur = jpeg_roundtrip(blur, int(rng.integers(settings.jpeg_quality, 96)))
    return blur
