"""The network on a maintained engine, called as the model itself is: ``engine(blur, affines,
image_affines, bank=...)`` returns the :class:`Restoration` the model returns.

The engine runs the network on the blur padded to a multiple of 32, one graph per padded size and
kind (with or without a tile's given motion; engines.export); restore sees a few: the photo, or
its tiles and the scaled copy that sets their shared motion. The crop, the kernel-bank head
(``Blur2Video.bank_middle``) and the confidence gate run in torch on its output, in the model's
order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..model.network import Blur2Video, Restoration, crop_scales, pad_to_levels
from .export import INPUTS, cached_onnx, fingerprint, output_names, restoration
from .sessions import Session

Opener = Callable[[Path, int], Session]


class GraphEngine:
    """``model`` run by the engine ``opener`` opens, one session per padded input size and kind."""

    def __init__(self, model: Blur2Video, name: str, opener: Opener) -> None:
        self.model, self.name, self.opener = model, name, opener
        self.config = model.config
        self._key = fingerprint(model)
        self._sessions: dict[tuple[int, int, bool], Session] = {}

    @torch.no_grad()  # an engine computes no gradients; the head prunes its filters as in inference
    def __call__(
        self,
        blur: torch.Tensor,
        affines: torch.Tensor | None = None,
        image_affines: torch.Tensor | None = None,
        bank: bool = True,
        fallback: bool = True,
    ) -> Restoration:
        if blur.shape[0] != 1:
            raise ValueError(f"{self.name} runs one photo at a time, not a batch of {blur.shape[0]}")
        blur = blur.float().cpu()
        h, w = blur.shape[-2:]
        x = pad_to_levels(blur)
        given = [t.float().cpu() for t in (affines, image_affines) if t is not None]
        run = self._session(x.shape[-2], x.shape[-1], motion=bool(given))
        inputs = {name: t.contiguous().numpy() for name, t in zip(INPUTS, [x, *given], strict=False)}
        names = output_names(self.model)
        out = restoration({k: torch.from_numpy(np.asarray(v)) for k, v in zip(names, run(inputs), strict=True)})
        out.scales = crop_scales(out.scales, h, w)
        frames = out.scales[-1].clone()
        if bank and self.model.kernel_bank is not None:
            middle = self.config.middle
            frames[:, middle] = self.model.bank_middle(blur, frames[:, middle])
        frames, out.confidence = self.model.fall_back(blur, frames, fallback=fallback)
        out.frames = out.scales[-1] = frames
        return out

    def _session(self, height: int, width: int, motion: bool) -> Session:
        key = (height, width, motion)
        if key not in self._sessions:
            path = cached_onnx(self.model, height, width, motion, self._key)
            self._sessions[key] = self.opener(path, torch.get_num_threads())
        return self._sessions[key]
