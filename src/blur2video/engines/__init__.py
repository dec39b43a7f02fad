"""Where restore runs the network: one switch (``Restorer(backend=...)``, ``restore --backend``)
over torch and the maintained engines that run it exported to ONNX.

``torch`` is the model itself. ``onnxruntime`` and ``openvino`` (``pip install
'blur2video[engines]'``) run the network exported once per padded input size (engines.export)
on the CPU. ``auto`` is :data:`AUTO_CPU` on the CPU where it is installed, else torch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from ..errors import Blur2VideoError
from ..model.network import Blur2Video
from . import sessions
from .export import cache_dir
from .graph_engine import GraphEngine

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
# The fastest on the CPU by benchmarks/inference.py (docs/benchmarks.md, "Inference engines"): eager
# torch, level with OpenVINO, which must also export a graph for every new size first; ONNX Runtime
# took 1.6x as long.
AUTO_CPU = "torch"


def resolve(name: str, model: nn.Module, device: torch.device) -> str:
    """The backend ``name`` stands for with this model on this device, or one line naming the fix."""
    if name not in BACKENDS:
        raise Blur2VideoError(f"--backend {name}: unknown; choose one of {', '.join(BACKENDS)}")
    graphable = isinstance(model, Blur2Video) and device.type == "cpu"
    if name == "auto":
        return AUTO_CPU if AUTO_CPU != "torch" and graphable and sessions.installed(AUTO_CPU) else "torch"
    if name != "torch":
        sessions.require(name)
        if device.type != "cpu":
            raise Blur2VideoError(f"--backend {name} runs on the CPU; use --device cpu or --backend torch")
        if not isinstance(model, Blur2Video):
            kind = type(model).__name__
            raise Blur2VideoError(f"--backend {name} runs Blur2Video models, not {kind}; use --backend torch")
    return name


def build(name: str, model: nn.Module, device: torch.device) -> Callable[..., object]:
    """The network as restore calls it (``engine(blur, affines, image_affines, bank=...)``) on the
    backend ``name`` resolves to."""
    backend = resolve(name, model, device)
    if backend == "torch":
        return model
    openers = {
        "onnxruntime": sessions.open_onnxruntime,
        "openvino": partial(sessions.open_openvino, cache=cache_dir() / "openvino"),
    }
    return GraphEngine(model, backend, openers[backend])
