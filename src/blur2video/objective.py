"""What a training run minimises: the part of the network it trains (``train.part``) and that part's
loss on a batch (losses.py), as one module.

The trainer optimises ``objective.trained`` and calls the objective on every batch; it never asks
which part trains. An objective is a module holding the network, so DistributedDataParallel wraps
it whole and the loss is computed inside the wrapped forward, whichever part trains; the parts not
trained run without gradients.
"""

from __future__ import annotations

import torch
from torch import nn

from .losses import LossConfig, compute_loss, gate_loss, kernel_bank_loss
from .model.network import Restoration


class Objective(nn.Module):
    """``forward(blur (B, 3, H, W), frames (B, N, 3, H, W), order_free (B,) or None)`` -> the loss
    terms and ``total``; ``trained`` is the module whose parameters it is minimised over."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    @property
    def trained(self) -> nn.Module:
        return self.model


class WholeNetworkObjective(Objective):
    """The paper's: every weight of the network on the PML, TCL and PT of all its frames at every
    scale; ``amp`` runs the network (not the loss) in ``amp_dtype``."""

    def __init__(self, model: nn.Module, config: LossConfig, amp: bool = False, amp_dtype: torch.dtype = torch.float16):
        super().__init__(model)
        self.config, self.amp, self.amp_dtype = config, amp, amp_dtype

    def forward(
        self, blur: torch.Tensor, frames: torch.Tensor, order_free: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        with torch.autocast(blur.device.type, dtype=self.amp_dtype, enabled=self.amp):
            out = self.model(blur, fallback=False)  # the fallback has no weights: the frames before it
        return compute_loss(_float_restoration(out), frames, self.config, order_free)


class KernelBankObjective(Objective):
    """``train.part = "kernel_bank"``: the head alone on the middle frame, the frozen network's own
    middle frame as its candidate."""

    @property
    def trained(self) -> nn.Module:
        return self.model.kernel_bank

    def forward(
        self, blur: torch.Tensor, frames: torch.Tensor, order_free: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            candidate = self.model.own_middle_frame(blur)
        return kernel_bank_loss(self.model.kernel_bank, blur, candidate, frames[:, frames.shape[1] // 2])


class GateObjective(Objective):
    """``train.part = "gate"``: the gate alone on the squared error of the frozen network's frames
    after gating."""

    @property
    def trained(self) -> nn.Module:
        return self.model.gate

    def forward(
        self, blur: torch.Tensor, frames: torch.Tensor, order_free: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            raw = self.model(blur, gate=False, fallback=False).frames.float()
        return gate_loss(self.model.gate(blur, raw)[0], frames, order_free)


PARTS: dict[str, type[Objective]] = {"kernel_bank": KernelBankObjective, "gate": GateObjective}


def objective_for(
    model: nn.Module, part: str, config: LossConfig, amp: bool = False, amp_dtype: torch.dtype = torch.float16
) -> Objective:
    """The objective of ``train.part`` ("" for the whole network), with every parameter outside
    its ``trained`` module frozen. The config checked that the part exists (train_config.py)."""
    objective = PARTS[part](model) if part else WholeNetworkObjective(model, config, amp, amp_dtype)
    model.requires_grad_(False)
    objective.trained.requires_grad_(True)
    return objective


def _float_restoration(out: Restoration) -> Restoration:
    """Mixed precision: losses in float32."""
    out.scales = [s.float() for s in out.scales]
    out.frames = out.scales[-1]
    out.affines = out.affines.float()
    if out.image_affines is not None:
        out.image_affines = out.image_affines.float()
    return out
