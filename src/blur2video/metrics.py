"""Order-invariant PSNR and SSIM (docs/evaluation.md).

A blur is the same whichever way time ran, so a prediction is scored in the order (forward or
reversed) that gives it the higher mean PSNR over its frames; per-frame figures are reported in
that order. The per-frame-max variant (each frame takes its better order) is also given, labelled,
as some papers report it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skimage.metrics import structural_similarity


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB with data range 1 over the last three dims (C, H, W); identical images give +inf."""
    mse = (pred.double() - target.double()).pow(2).mean(dim=(-3, -2, -1))
    return 10.0 * torch.log10(1.0 / mse)  # mse == 0 -> +inf


def ssim(pred: torch.Tensor, target: torch.Tensor) -> float:
    """SSIM of one (3, H, W) image pair: Gaussian window 11, sigma 1.5, averaged over channels
    (scikit-image's implementation, not written again)."""
    a = pred.detach().double().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    b = target.detach().double().permute(1, 2, 0).cpu().numpy()
    return float(
        structural_similarity(
            b, a, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


@dataclass
class SequenceScores:
    """Scores of a batch of sequences. ``psnr``/``ssim`` are (B, N) in each sample's chosen order;
    ``reversed`` (B,) says which order was chosen; ``psnr_max``/``ssim_max`` the per-frame-max variant."""

    psnr: np.ndarray
    ssim: np.ndarray
    reversed: np.ndarray
    psnr_max: np.ndarray
    ssim_max: np.ndarray


def _both_orders(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-frame PSNR (B, N) forward and reversed, and which order each sample takes (B,).
    Higher mean PSNR wins; exact frames (+inf) count as 1000 dB so perfect frames still decide
    between two orders that both contain one (the middle frame is in both)."""
    fwd, rev = psnr(pred, target), psnr(pred, target.flip(1))
    use_rev = rev.clamp(max=1000).mean(dim=1) > fwd.clamp(max=1000).mean(dim=1)
    return fwd, rev, use_rev


def order_invariant_psnr(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, 3, H, W) pair -> per-frame PSNR (B, N) in the better order, and the reversed flags (B,)."""
    fwd, rev, use_rev = _both_orders(pred.clamp(0, 1), target)
    return torch.where(use_rev[:, None], rev, fwd), use_rev


def score_sequences(pred: torch.Tensor, target: torch.Tensor) -> SequenceScores:
    """Order-invariant PSNR and SSIM of (B, N, 3, H, W) predictions against their targets."""
    pred = pred.clamp(0, 1)
    fwd, rev, use_rev = _both_orders(pred, target)
    b, n = fwd.shape
    s_fwd = np.array([[ssim(pred[i, j], target[i, j]) for j in range(n)] for i in range(b)])
    s_rev = np.array([[ssim(pred[i, j], target[i, n - 1 - j]) for j in range(n)] for i in range(b)])
    flags = use_rev.cpu().numpy()
    return SequenceScores(
        psnr=torch.where(use_rev[:, None], rev, fwd).cpu().numpy(),
        ssim=np.where(flags[:, None], s_rev, s_fwd),
        reversed=flags,
        psnr_max=torch.maximum(fwd, rev).cpu().numpy(),
        ssim_max=np.maximum(s_fwd, s_rev),
    )
