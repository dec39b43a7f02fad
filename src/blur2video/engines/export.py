"""The network as an ONNX graph: tensors in, a flat tuple of named tensors out, for one input size.

torch's exporter (``torch.onnx.export(..., dynamo=True)``) fixes every size the network derives
from its input, so a graph serves one size. The graphs an engine runs take the blur already padded
to a multiple of 32 (``network.pad_to_levels``), so every photo that pads to the same size shares
one, and hold the network alone: the crop, the kernel-bank head, the confidence gate and the fallback finish in
torch (engines.graph_engine), the head because in a graph, with no data-dependent sizes, it must
sum all its 180 filters where torch sums the few that carry the weight (27 against 3 s at 720p on
one core). :func:`cached_onnx` keeps one file per model, size and kind on disk: an export takes
about a minute. A graph for a tile also takes the global motion the tiles of a photo share.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .. import progress
from .._version import __version__
from ..errors import Blur2VideoError
from ..fileio import atomic_file
from ..model.network import Blur2Video, Restoration

OPSET = 20
INPUTS = ("blur", "given_affines", "given_image_affines")


class GraphOf(nn.Module):
    """``model`` with a flat output: the scales (coarse to fine, the last the frames), the affines,
    then the image affines and the flows where the model has them, and with ``whole`` the
    confidence of its gate and reblur fallback. ``whole``: the model as it is (head, gate and
    fallback included, any input size); else the network alone on a padded blur (see the module
    docstring)."""

    def __init__(self, model: Blur2Video, whole: bool = False) -> None:
        super().__init__()
        self.model, self.whole = model, whole

    def forward(
        self, blur: torch.Tensor, affines: torch.Tensor | None = None, image_affines: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        out = self.model(blur, affines, image_affines, bank=self.whole, gate=self.whole, fallback=self.whole)
        extra = [out.image_affines] if out.image_affines is not None else []
        extra += out.flows + ([out.confidence] if out.confidence is not None else [])
        return (*out.scales, out.affines, *extra)


def output_names(model: Blur2Video, whole: bool = False) -> list[str]:
    """The outputs of :class:`GraphOf` in its order."""
    cfg = model.config
    names = [f"scale_{k}" for k in range(len(model.middle_decoder.blocks) + 1)] + ["affines"]
    names += ["image_affines"] if cfg.itn else []
    names += [f"flow_{k}" for k in range(len(model.ftn))] if cfg.local_warp else []
    return names + (["confidence"] if (cfg.gate or cfg.fallback) and whole else [])


def restoration(outputs: dict[str, torch.Tensor]) -> Restoration:
    """A graph's named outputs as the :class:`Restoration` the model returns."""
    scales = [v for k, v in outputs.items() if k.startswith("scale_")]
    return Restoration(
        frames=scales[-1],
        scales=scales,
        affines=outputs["affines"],
        image_affines=outputs.get("image_affines"),
        flows=[v for k, v in outputs.items() if k.startswith("flow_")],
        confidence=outputs.get("confidence"),
    )


def export_onnx(
    model: Blur2Video, height: int, width: int, path: str | os.PathLike, motion: bool = False, whole: bool = False
) -> Path:
    """Write ``model`` for (1, 3, height, width) blurs to ``path`` as ONNX (see :class:`GraphOf`;
    without ``whole``, height and width are multiples of 32). ``motion``: the graph also takes the
    global motion, (1, N, 5, 2, 3) affines and (1, N, 6, 2, 3) image affines (a tile's)."""
    frames = model.config.frames
    args = [torch.rand(1, 3, height, width)]
    if motion:
        args.append(_identity_motion(frames, len(model.ftn)))
        if model.config.itn:
            args.append(_identity_motion(frames, len(model.itn)))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        program = torch.onnx.export(
            GraphOf(model, whole).eval(),
            tuple(args),
            dynamo=True,
            opset_version=OPSET,
            input_names=list(INPUTS[: len(args)]),
            output_names=output_names(model, whole),
            optimize=False,  # the engines optimise the graph themselves: the exporter's pass took 40% of the export
            verbose=False,
        )
    path = Path(path)
    with atomic_file(path, suffix=".onnx") as tmp:
        program.save(tmp)
    return path


def _identity_motion(frames: int, levels: int) -> torch.Tensor:
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(1, frames, levels, 2, 3).contiguous()


def cache_dir() -> Path:
    """Where compiled engines are kept: $BLUR2VIDEO_CACHE, else $XDG_CACHE_HOME/blur2video, else
    ~/.cache/blur2video."""
    if os.environ.get("BLUR2VIDEO_CACHE"):
        return Path(os.environ["BLUR2VIDEO_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "blur2video"


def fingerprint(model: Blur2Video) -> str:
    """A hash of everything an exported graph depends on: weights, config and versions."""
    digest = hashlib.sha256()
    meta = {"config": model.config.as_dict(), "blur2video": __version__, "torch": torch.__version__, "opset": OPSET}
    digest.update(json.dumps(meta, sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cached_onnx(model: Blur2Video, height: int, width: int, motion: bool = False, key: str | None = None) -> Path:
    """The network's graph for padded (1, 3, height, width) blurs, exported once per model (``key``:
    its :func:`fingerprint`), size and kind."""
    kind = "motion" if motion else "plain"
    path = cache_dir() / "onnx" / f"{key or fingerprint(model)}-{height}x{width}-{kind}.onnx"
    if not path.is_file():
        progress.say(
            f"blur2video: note: exporting the network for {width}x{height} inputs to ONNX "
            f"(about a minute, once per size; kept in {path.parent})"
        )
        try:
            export_onnx(model, height, width, path, motion=motion)
        except Exception as exc:  # noqa: BLE001 - any exporter failure: the torch backend still restores
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            raise Blur2VideoError(
                f"the network did not export to ONNX for {width}x{height} inputs ({first[:200]}); use --backend torch"
            ) from None
    return path
