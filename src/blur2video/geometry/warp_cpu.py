"""Bilinear warps of channels-last CPU features in one pass (``_warp_cpu.c``, built at install when
a C compiler is present; it runs on torch's own OpenMP threads), for inference.

torch's path (:mod:`blur2video.geometry.warp`) builds a sampling grid per frame, runs
``grid_sample`` on NCHW copies and converts and concatenates the results to channels-last for
the frame decoders. The kernel computes each sample position in place and writes the blended
channel vector straight into its slice of the joined channels-last output: the transformers of
the small preset at 720p take 0.30 s that way in torch (experiments/README.md, "Speed history").
Same conventions as ``warp_affine``/``warp_flow``: align_corners=False, zero padding, flows in
pixels."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache

import torch

from .. import native

MAX_CHANNELS = 512  # the kernel's limit on channels per pixel
_DIFF, _INT = ctypes.c_ssize_t, ctypes.c_int


class _Image(ctypes.Structure):
    """b2v_warp_image: one image's input, flow (or NULL) and output, and its affine map."""

    _fields_ = [
        ("src", ctypes.c_void_p),
        ("flow", ctypes.c_void_p),
        ("dst", ctypes.c_void_p),
        ("theta", ctypes.c_float * 6),
    ]


@cache
def _kernel() -> Callable[..., int] | None:
    argtypes = [ctypes.POINTER(_Image), _INT, _DIFF, _DIFF, _DIFF, _DIFF, _DIFF, _DIFF, _DIFF, _INT, _INT, _INT, _INT]
    return native.load("blur2video.geometry._warp_cpu", "b2v_warp", argtypes)


def available() -> bool:
    """Whether the compiled kernel was built and loads."""
    return _kernel() is not None


def usable(x: torch.Tensor) -> bool:
    """Whether warps of ``x`` (B, C, H, W) can run on the kernel: built, no gradients needed, a
    CPU float32 channels-last input of at most MAX_CHANNELS channels."""
    return available() and not torch.is_grad_enabled() and native.pixel_rows(x) and x.shape[1] <= MAX_CHANNELS


def warp_frames_into(
    out: torch.Tensor, offset: int, x: torch.Tensor, theta: torch.Tensor | None = None, flow: torch.Tensor | None = None
) -> None:
    """Warp ``x`` (B, C, H, W) once per frame into channels [offset, offset + C) of ``out``
    (B*F, C_out, H, W, channels-last): frame f of item b by ``theta[b*F + f]`` (B*F, 2, 3), or by
    ``flow[b*F + f]`` (B*F, 2, H, W, pixels, any strides). Check :func:`usable` first: a call it
    would refuse raises ValueError."""
    b, c, h, w = x.shape
    motion = theta if flow is None else flow
    frames = motion.shape[0] // b
    if not (
        usable(x)
        and native.pixel_rows(out)
        and out.shape[0] == b * frames
        and out.shape[2:] == x.shape[2:]
        and offset + c <= out.shape[1]
    ):
        raise ValueError(
            "warp_frames_into: give a channels-last float32 CPU input and output of matching sizes (see usable)"
        )
    if flow is not None and (flow.dtype != torch.float32 or flow.shape[-2:] != x.shape[-2:]):
        raise ValueError("warp_frames_into: the flow must be float32 at the input's size")
    images = (_Image * (b * frames))()
    size = x.element_size()
    thetas = theta.detach().float().reshape(-1, 6).tolist() if theta is not None else None
    for n, image in enumerate(images):
        image.src = x.data_ptr() + n // frames * x.stride(0) * size
        image.dst = out.data_ptr() + (n * out.stride(0) + offset) * size
        if flow is not None:
            image.flow = flow.data_ptr() + n * flow.stride(0) * flow.element_size()
        else:
            image.theta[:] = thetas[n]
    flow_strides = (flow.stride(2), flow.stride(3), flow.stride(1)) if flow is not None else (0, 0, 0)
    threads = native.threads_for(b * frames * h * w)
    status = _kernel()(
        images, b * frames, x.stride(2), x.stride(3), *flow_strides, out.stride(2), out.stride(3), h, w, c, threads
    )
    native.check(status, "blur2video.geometry._warp_cpu")
