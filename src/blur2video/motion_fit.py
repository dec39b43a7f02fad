"""The global motion fitted to the blur itself, reported beside the network's (``motion.json``).

A blurred photo is the mean of its frames. If the frames are the restored middle frame warped
along a path of affines linear in time (theta_k = I + s_k G, s_k evenly from -1 to 1, the middle
frame the identity), the mean of those warps must equal the photo. :func:`fit_blur_motion` finds
G by gradient descent on that reblur error, starting from the network's own global motion, on a
copy of at most :data:`WORK_PIXELS` pixels (normalised affines do not depend on the resolution).
On held-out camera-rotation blur at 1 degree its error is 0.57x that of reporting no motion,
where the network's is 0.88x (docs/model-card.md). The frames stay the network's: the middle frame
warped along the fitted path scores below them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .geometry.warp import conjugate, pixels_to_normalised, warp_affine

# The fit's copy of the photo. On 16 held-out photos at 1 degree (one core; experiments/README.md),
# 40 steps left 0.69 px of motion error at 96x96 px in 0.3 s, 0.74 px at 128x128 in 0.5-0.6 s,
# 0.87 px at 64x64 in 0.17 s.
WORK_PIXELS = 96 * 96
BORDER = 1 / 32  # of each side ignored: content enters and leaves the view there
EYE = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass
class BlurFit:
    """``affines`` (N, 2, 3) pixel affines of the fitted path (the convention of ``Motion.affines``);
    ``rms_network`` / ``rms_fitted``: the RMS reblur error (0-1 scale) of the middle frame warped
    along the network's path and along the fitted one."""

    affines: np.ndarray
    rms_network: float
    rms_fitted: float


def linear_path(generator: torch.Tensor, frames: int) -> torch.Tensor:
    """(N, 2, 3) affines I + s_k G, s_k evenly spaced in [-1, 1]: the middle frame is the identity."""
    s = torch.linspace(-1.0, 1.0, frames, dtype=generator.dtype).view(frames, 1, 1)
    return EYE.to(generator.dtype) + s * generator


def project_to_path(thetas: torch.Tensor) -> torch.Tensor:
    """The G whose linear path is closest (least squares) to the (N, 2, 3) affines ``thetas``."""
    frames = thetas.shape[0]
    s = torch.linspace(-1.0, 1.0, frames, dtype=thetas.dtype).view(frames, 1, 1)
    return ((thetas - EYE.to(thetas.dtype)) * s).sum(0) / (s**2).sum()


def reblur_along(middle: torch.Tensor, generator: torch.Tensor, frames: int) -> torch.Tensor:
    """(1, 3, H, W): the mean of ``middle`` warped along the linear path of ``generator``."""
    return _mean_warp(middle, linear_path(generator, frames))


def _mean_warp(middle: torch.Tensor, thetas: torch.Tensor) -> torch.Tensor:
    return warp_affine(middle.expand(thetas.shape[0], -1, -1, -1), thetas).mean(0, keepdim=True)


def _rms_inside(reblur: torch.Tensor, blur: torch.Tensor) -> torch.Tensor:
    """RMS of ``reblur - blur`` without a :data:`BORDER` on each side."""
    h, w = blur.shape[-2:]
    bh, bw = max(1, round(h * BORDER)), max(1, round(w * BORDER))
    return (reblur - blur)[..., bh:-bh, bw:-bw].pow(2).mean().sqrt()


def fit_path(
    blur: torch.Tensor, middle: torch.Tensor, frames: int, start: torch.Tensor, steps: int = 60, lr: float = 2e-3
) -> torch.Tensor:
    """The G, from ``start``, whose reblurred ``middle`` best matches ``blur`` (both (1, 3, H, W)),
    by Adam (betas 0.9, 0.999). Written out rather than ``torch.optim.Adam``: building a torch
    optimiser imports torch._dynamo, about 2 s of every restore's start for six numbers."""
    with torch.inference_mode(False), torch.enable_grad():  # callers may restore in inference mode
        blur, middle = blur.clone(), middle.clone()  # inference tensors cannot be saved for backward
        generator = start.detach().float().clone().requires_grad_(True)
        mean, square = torch.zeros_like(generator), torch.zeros_like(generator)
        for step in range(1, steps + 1):
            loss = _rms_inside(reblur_along(middle, generator, frames), blur) ** 2
            (grad,) = torch.autograd.grad(loss, generator)
            mean.mul_(0.9).add_(grad, alpha=0.1)
            square.mul_(0.999).addcmul_(grad, grad, value=0.001)
            with torch.no_grad():
                size = lr * math.sqrt(1 - 0.999**step) / (1 - 0.9**step)
                generator.sub_(size * mean / (square.sqrt() + 1e-8 * math.sqrt(1 - 0.999**step)))
    return generator.detach()


def fit_blur_motion(blur: torch.Tensor, middle: torch.Tensor, affines: np.ndarray, steps: int = 40) -> BlurFit:
    """The linear path of global motion whose warps of ``middle`` average to ``blur`` (both (3, H, W)
    in 0-1), from the network's pixel ``affines`` (N, 2, 3)."""
    frames = affines.shape[0]
    h, w = blur.shape[-2:]
    to_norm = pixels_to_normalised(h, w)
    network = conjugate(torch.from_numpy(affines).double(), to_norm).float()
    scale = min(1.0, math.sqrt(WORK_PIXELS / (h * w)))
    small = [t[None].float() for t in (blur, middle)]
    if scale < 1:
        small = [F.interpolate(t, scale_factor=scale, mode="area") for t in small]
    start = project_to_path(network)
    generator = fit_path(small[0], small[1], frames, start, steps=steps)
    with torch.no_grad():
        rms_network = float(_rms_inside(_mean_warp(small[1], network), small[0]))
        rms_fitted = float(_rms_inside(reblur_along(small[1], generator, frames), small[0]))
    fitted = conjugate(linear_path(generator, frames).double(), torch.linalg.inv(to_norm))
    return BlurFit(fitted.float().numpy(), rms_network, rms_fitted)


def pixel_affines_to_flow(affines: np.ndarray, height: int, width: int) -> torch.Tensor:
    """(N, 2, H, W) backward flows of (N, 2, 3) pixel affines: A @ (x, y, 1) - (x, y) per pixel."""
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    points = torch.stack([xs, ys, torch.ones_like(xs)])  # (3, H, W)
    moved = torch.einsum("nij,jhw->nihw", torch.from_numpy(affines).double(), points)
    return (moved - points[:2]).float()


def fit_affines(flow: torch.Tensor) -> np.ndarray:
    """Least-squares pixel affine (N, 2, 3) per frame: (x, y, 1) -> (x, y) + flow(x, y), fitted on
    a grid of at most ~65k pixels (an affine needs few points; a 12 MP fit would need gigabytes)."""
    step = max(1, int(math.sqrt(flow.shape[-1] * flow.shape[-2] / 65536)))
    flow = flow[..., step // 2 :: step, step // 2 :: step]
    n, _, h, w = flow.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64) * step + step // 2,
        torch.arange(w, dtype=torch.float64) * step + step // 2,
        indexing="ij",
    )
    design = torch.stack([xs.flatten(), ys.flatten(), torch.ones(h * w, dtype=torch.float64)], 1)  # (P, 3)
    target = torch.stack([xs.flatten(), ys.flatten()], 1)[None] + flow.double().flatten(2).transpose(1, 2)  # (N, P, 2)
    solution = torch.linalg.lstsq(design[None].expand(n, -1, -1), target).solution  # (N, 3, 2)
    return solution.transpose(1, 2).float().numpy()
