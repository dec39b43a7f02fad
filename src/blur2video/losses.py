"""Every training loss. The network's is the objective of paper section 4.3: multi-scale
photometric loss (PML), transformation consistency loss (TCL) and the symmetric penalty term (PT),

    total = PML + lambda_tc * TCL + lambda_pt * PT

every term a switch (the loss rows of the paper's Table 5). The two heads that are not in the paper
are trained alone on their own: the confidence gate on its frames' squared error (gate_loss), the
kernel-bank head on its middle frame's (kernel_bank_loss). Each returns its terms and ``total``;
which one a run minimises, and over which parameters, is objective.py's choice, and the trainer
owns data, optimiser and checkpoints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .errors import Blur2VideoError
from .model.kernel_bank import PAD, KernelBankDeblur, filter_errors, hann_2d
from .model.network import Restoration
from .settings import check_ranges, setting

# coarse (1/32) to fine (1): the paper lost its weights; coarse scales guide, the full scale counts most
DEFAULT_SCALE_WEIGHTS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.0)
ORACLE_TEMPERATURE_DB = 0.5  # kernel bank: filters within about this PSNR of the best share its label
ORACLE_WEIGHT = 1e-3  # kernel bank: the cross-entropy's weight (its term starts about 3x the blend's MSE)


@dataclass(frozen=True)
class LossConfig:
    """Weights and switches. ``penalty_bound`` caps each pixel's absolute difference in PT, so
    the term is bounded below by ``-penalty_bound`` per frame and cannot be driven to -inf by
    predicting garbage. ``order_invariant`` takes, per sample, the lower PML of the forward and
    the reversed target sequence (the blur cannot tell them apart). ``middle_weight`` scales the
    middle frame's PML term (the paper weighs every frame alike, 1.0): the other frames' errors
    are several times larger and dominate the gradient, so a model can settle for sharpening the
    middle frame instead of deblurring it (experiments/README.md, "the bundled model's levers and
    probes")."""

    scale_weights: tuple[float, ...] = setting(
        DEFAULT_SCALE_WEIGHTS, "PML weight per scale, coarse (1/32) to fine (1): 6 numbers", low=0.0
    )
    photometric: bool = setting(True, "the PML: cannot be switched off, the only term tied to the targets")
    consistency: bool = setting(True, "the TCL: consecutive levels' affines of a frame agree")
    penalty: bool = setting(True, "the PT: each frame unlike its time-mirrored target")
    lambda_tc: float = setting(0.1, "the TCL's weight", low=0.0)
    lambda_pt: float = setting(0.05, "the PT's weight", low=0.0)
    penalty_bound: float = setting(0.1, "the PT's cap on each pixel's difference", above=0.0)
    order_invariant: bool = setting(
        False, "the PML takes the better of the forward and the reversed targets (per stream: its order_invariant)"
    )
    middle_weight: float = setting(1.0, "the middle frame's PML weight (the paper's: 1, every frame alike)", low=0.0)

    def __post_init__(self) -> None:
        check_ranges(self, "loss")
        if len(self.scale_weights) != 6:
            raise Blur2VideoError(f"loss.scale_weights needs 6 weights (1/32 .. 1), got {len(self.scale_weights)}")
        if not self.photometric:
            raise Blur2VideoError(
                "the photometric loss cannot be switched off: it is the only term tied to the targets"
            )

    def as_dict(self) -> dict:
        d = asdict(self)
        d["scale_weights"] = list(self.scale_weights)
        return d


def downsample_targets(targets: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """(B, N, 3, H, W) -> the targets bilinearly resized to every predicted scale (antialiased)."""
    b, n = targets.shape[:2]
    flat = targets.flatten(0, 1)
    out = []
    for h, w in sizes:
        t = (
            flat
            if (h, w) == tuple(flat.shape[-2:])
            else F.interpolate(flat, (h, w), mode="bilinear", align_corners=False, antialias=True)
        )
        out.append(t.view(b, n, 3, h, w))
    return out


def photometric_per_sample(
    scales: list[torch.Tensor], targets: list[torch.Tensor], weights: tuple[float, ...], middle_weight: float = 1.0
) -> torch.Tensor:
    """PML per sample (B,): sum over scales and frames of w_l * mean |pred - target|, the middle
    frame's term times ``middle_weight``."""
    total = 0.0
    for w, pred, gt in zip(weights, scales, targets, strict=False):
        per_frame = (pred - gt).abs().mean(dim=(2, 3, 4))  # (B, N)
        if middle_weight != 1.0:
            frame_weights = torch.ones(per_frame.shape[1], dtype=per_frame.dtype, device=per_frame.device)
            frame_weights[per_frame.shape[1] // 2] = middle_weight
            per_frame = per_frame * frame_weights
        total = total + w * per_frame.sum(dim=1)
    return total


def consistency_loss(affines: torch.Tensor, middle: int) -> torch.Tensor:
    """TCL: mean over the batch of sum over non-middle frames and consecutive levels of the mean
    |theta_l - theta_{l+1}|; ``affines`` is (B, N, L, 2, 3)."""
    theta = torch.cat([affines[:, :middle], affines[:, middle + 1 :]], dim=1)
    return (theta[:, :, 1:] - theta[:, :, :-1]).abs().mean(dim=(3, 4)).sum(dim=(1, 2)).mean()


def penalty_term(frames: torch.Tensor, targets: torch.Tensor, bound: float) -> torch.Tensor:
    """PT: minus the mean (capped at ``bound`` per pixel) absolute difference between predicted
    frame i and the time-symmetric target N-1-i, summed over the non-middle frames."""
    n = frames.shape[1]
    mirrored = targets.flip(1)
    diff = (frames - mirrored).abs().clamp(max=bound).mean(dim=(2, 3, 4))  # (B, N)
    keep = torch.ones(n, dtype=torch.bool, device=frames.device)
    keep[n // 2] = False
    return -diff[:, keep].sum(dim=1).mean()


def compute_loss(
    out: Restoration, targets: torch.Tensor, config: LossConfig, order_free: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """All switched-on terms and ``total`` for a batch of targets (B, N, 3, H, W).

    ``order_free`` (B,) bool says, per sample, whether its PML takes the better of both orders;
    without it every sample follows ``config.order_invariant``. Per-sample flags let a mixture
    use the order-invariant PML on camera-rotation blur only (docs/model-card.md, "Data and recipe")."""
    sizes = [tuple(s.shape[-2:]) for s in out.scales]
    gts = downsample_targets(targets, sizes)
    pml = photometric_per_sample(out.scales, gts, config.scale_weights, config.middle_weight)
    if order_free is None and config.order_invariant:
        order_free = torch.ones(pml.shape[0], dtype=torch.bool, device=pml.device)
    if order_free is not None and bool(order_free.any()):
        reversed_pml = photometric_per_sample(
            out.scales, [g.flip(1) for g in gts], config.scale_weights, config.middle_weight
        )
        pml = torch.where(order_free.to(pml.device), torch.minimum(pml, reversed_pml), pml)
    terms = {"pml": pml.mean()}
    total = terms["pml"]
    middle = targets.shape[1] // 2
    if config.consistency:
        tcl = consistency_loss(out.affines, middle)
        if out.image_affines is not None:
            tcl = tcl + consistency_loss(out.image_affines, middle)
        terms["tcl"] = tcl
        total = total + config.lambda_tc * tcl
    if config.penalty:
        terms["pt"] = penalty_term(out.frames, targets, config.penalty_bound)
        total = total + config.lambda_pt * terms["pt"]
    terms["total"] = total
    return terms


def gate_loss(
    gated: torch.Tensor, targets: torch.Tensor, order_free: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """The confidence gate's objective (``train.part = "gate"``): the mean squared error of the
    gated frames (B, N, 3, H, W), per sample the better of both orders where ``order_free``
    (the blur cannot tell them apart, and the gate must not be punished for the network's order)."""
    forward = ((gated - targets) ** 2).mean(dim=(1, 2, 3, 4))
    if order_free is not None and bool(order_free.any()):
        backward = ((gated - targets.flip(1)) ** 2).mean(dim=(1, 2, 3, 4))
        forward = torch.where(order_free.to(forward.device), torch.minimum(forward, backward), forward)
    total = forward.mean()
    return {"total": total, "gate_mse": total.detach()}


def kernel_bank_loss(
    head: KernelBankDeblur, blur: torch.Tensor, candidate: torch.Tensor, middle: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The kernel-bank head's objective (``train.part = "kernel_bank"``) on blurs (B, 3, H, W), its
    candidate middle frames and the true ones: the blend's MSE against the true middle frame, plus
    ORACLE_WEIGHT times the cross-entropy towards every filter's (and the candidate's) own score on
    the sample (softmax of its PSNR over ORACLE_TEMPERATURE_DB, on the Hann-windowed tile; the
    filters' by Parseval). The blend's MSE alone moves the logits only through the blend, so the
    CNN first learns one filter for every image and is slow to learn to tell blurs apart; the
    per-filter scores say from the first step which filter fits."""
    with torch.autocast(blur.device.type, enabled=False):  # FFTs in float32, as the head's forward
        blur, candidate, middle = blur.float(), candidate.float(), middle.float()
        logits = head.logits(blur)
        h, w = blur.shape[-2:]
        pad = min(PAD, h - 1, w - 1)
        xf = torch.fft.fft2(F.pad(blur, (pad,) * 4, mode="reflect"))
        hp, wp = xf.shape[-2:]
        filters = head.filters(hp, wp)
        p = torch.softmax(logits, 1)
        gain = (p[:, :-1] @ filters).view(-1, 1, hp, wp)
        out = (
            torch.fft.ifft2(xf * gain).real[..., pad : pad + h, pad : pad + w] + p[:, -1].view(-1, 1, 1, 1) * candidate
        )
        mse = (out - middle).pow(2).mean()
        with torch.no_grad():  # on the Hann-windowed tile: the reflected border would blur along the mirrored axis
            window = hann_2d(h, w, blur.device)
            error = filter_errors(torch.fft.fft2(blur * window), torch.fft.fft2(middle * window), head.filters(h, w))
            error = torch.cat(
                [error, h * w * ((candidate - middle) * window).pow(2).sum((1, 2, 3))[:, None]], 1
            )  # the same scale (Parseval)
            score = -10 * torch.log10(error.clamp_min(1e-12))
            target = torch.softmax(score / ORACLE_TEMPERATURE_DB, 1)
        ce = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
        return {"total": mse + ORACLE_WEIGHT * ce, "middle_mse": mse, "oracle_ce": ce}
