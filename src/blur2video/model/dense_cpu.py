"""The memory-bound parts of a fanned dense block as one-pass C kernels, for CPU inference
(``_dense_cpu.c``, built at install when a C compiler is present; they run on torch's own OpenMP
threads). In torch each new feature costs three passes over memory (a strided add into the
accumulator, a copy of the feature out of it, its activation), and the 1x1 transition one skinny
matrix product per piece, which MKL runs at a sixth of its GEMM rate; here each is one pass
(benchmarks/dense_block.py measures both).

``step`` and ``fuse`` return None (having written nothing) when a kernel cannot take their
tensors, so :class:`blur2video.model.blocks.DenseBlock` falls back to its torch path."""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterator, Sequence
from functools import cache

import torch

from .. import native

LANES = 8  # the kernels handle channels in groups of 8: the growth must be a multiple of it
# Blocks with fewer pixels stay on torch: at 1/16 scale of a 720p input (3,680 pixels, 390 input
# channels) the kernels were level with torch's ops, from 1/8 scale (14,720) on faster
# (benchmarks/dense_block.py; docs/benchmarks.md, "A full-scale dense block").
MIN_PIXELS = 1 << 13
PIXELS_PER_THREAD = 2048  # a pixel is tens of channels of work: a share this small still pays for its thread
_SIZE, _PTR, _INT, _FLOAT = ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int, ctypes.c_float
_DIFF = ctypes.c_ssize_t
_enabled = True


class _Piece(ctypes.Structure):
    """b2v_piece: ``width`` channels at ``data``, ``stride`` floats per pixel; with an ``addend``,
    the piece is leaky(data + addend), computed where it is read."""

    _fields_ = [("data", _PTR), ("addend", _PTR), ("stride", _DIFF), ("addend_stride", _DIFF), ("width", _INT)]


@cache
def _kernels() -> tuple[Callable[..., int], ...] | None:
    module = "blur2video.model._dense_cpu"
    step = native.load(module, "b2v_dense_step", [_PTR, _DIFF, _PTR, _DIFF, _PTR, _INT, _INT, _FLOAT, _SIZE, _INT])
    fuse = native.load(module, "b2v_dense_fuse", [_PTR, _INT, _PTR, _PTR, _PTR, _INT, _INT, _FLOAT, _SIZE, _INT])
    concat = native.load(module, "b2v_concat", [_PTR, _INT, _PTR, _DIFF, _PTR, _SIZE, _INT])
    return (step, fuse, concat) if step and fuse and concat else None


def available() -> bool:
    """Whether the compiled kernels were built and load."""
    return _kernels() is not None


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run dense blocks on torch ops only: what FLOP counting sees (a C kernel is not a torch op,
    so its arithmetic would go uncounted) and the peer the benchmarks measure against."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


def usable(x: torch.Tensor, growth: int) -> bool:
    """Whether a block with this input and growth should run on the kernels."""
    big = x.shape[0] * x.shape[2] * x.shape[3] >= MIN_PIXELS
    return (
        _enabled
        and big
        and available()
        and growth % LANES == 0
        and native.pixel_rows(x)
        and not torch.is_grad_enabled()
    )


def step(
    acc: torch.Tensor, offset: int, out: torch.Tensor | None, growth: int, rest: int, slope: float
) -> torch.Tensor | None:
    """One dense step over channels-last tensors: the new feature leaky(acc[offset : offset+growth]
    + out[:growth]) (channels-last, returned), and acc[offset+growth : offset+growth+rest] +=
    out[growth : growth+rest] in place. ``out`` None: acc already holds the sums (the first conv's
    output). None when the tensors do not suit the kernel."""
    kernels = _kernels()
    if (
        kernels is None
        or not 0 <= slope <= 1
        or not native.pixel_rows(acc)
        or (out is not None and not native.pixel_rows(out))
    ):
        return None
    b, channels, h, w = acc.shape
    if (
        growth % LANES
        or rest % LANES
        or offset + growth + rest > channels
        or (out is not None and growth + rest > out.shape[1])
    ):
        return None
    feat = torch.empty(b, growth, h, w, memory_format=torch.channels_last)
    out_ptr, out_stride = (None, 0) if out is None else (out.data_ptr(), out.shape[1])
    acc_ptr = acc.data_ptr() + offset * acc.element_size()
    _check(
        kernels[0](
            acc_ptr, channels, out_ptr, out_stride, feat.data_ptr(), growth, rest, slope, b * h * w, _threads(b * h * w)
        )
    )
    return feat


def fuse(
    pieces: Sequence[torch.Tensor],
    weight: torch.Tensor,
    bias: torch.Tensor,
    slope: float,
    last: tuple[torch.Tensor, int, torch.Tensor] | None = None,
) -> torch.Tensor | None:
    """leaky(bias + concat(pieces) @ weight) for channels-last pieces, one pass over their pixels;
    ``weight`` (sum of piece channels, cout). ``last`` = (acc, offset, out): one more piece, the
    block's last feature leaky(acc[offset:] + out[:width]) of the weight's remaining rows, read
    straight from the accumulator and the last conv's output instead of being stored first. None
    when the tensors do not suit the kernel."""
    kernels = _kernels()
    b, _, h, w = pieces[0].shape
    extra = [last[0], last[2]] if last is not None else []
    if (
        kernels is None
        or not 0 <= slope <= 1
        or not all(native.pixel_rows(p) and (p.shape[0], *p.shape[2:]) == (b, h, w) for p in [*pieces, *extra])
    ):
        return None
    cin, cout = weight.shape
    span = -(-cout // LANES) * LANES
    structs = [_piece(p) for p in pieces]
    if last is not None:
        acc, offset, out = last
        width = cin - sum(p.shape[1] for p in pieces)
        if width <= 0 or offset + width > acc.shape[1] or width > out.shape[1]:
            return None
        structs.append(
            _Piece(acc.data_ptr() + offset * acc.element_size(), out.data_ptr(), acc.shape[1], out.shape[1], width)
        )
    if cin != sum(piece.width for piece in structs) or span > 256:
        return None
    padded = torch.nn.functional.pad(weight.float(), (0, span - cout)).contiguous()
    padded_bias = torch.nn.functional.pad(bias.float(), (0, span - cout)).contiguous()
    y = torch.empty(b, cout, h, w, memory_format=torch.channels_last)
    array = (_Piece * len(structs))(*structs)
    _check(
        kernels[1](
            array,
            len(structs),
            padded.data_ptr(),
            padded_bias.data_ptr(),
            y.data_ptr(),
            cout,
            span,
            slope,
            b * h * w,
            _threads(b * h * w),
        )
    )
    return y


def cat(parts: Sequence[torch.Tensor], slopes: Sequence[float] | None = None) -> torch.Tensor:
    """``torch.cat`` along channels of ``parts``, each through a LeakyReLU of its slope (1, the
    default: as it is), in one pass where the kernel takes them (CPU float32 channels-last parts
    of one size, no gradients, not disabled). torch's cat of narrow channels-last tensors copies
    at a third of memory speed (9.4 against 3.6 ms for a full-scale 720p dense block input of 21
    channels), and an activation folded into the copy costs no pass of its own."""
    slopes = [1.0] * len(parts) if slopes is None else list(slopes)
    kernels = _kernels()
    b, _, h, w = parts[0].shape
    fits = all(native.pixel_rows(p) and (p.shape[0], *p.shape[2:]) == (b, h, w) for p in parts) and all(
        0 <= s <= 1 for s in slopes
    )
    if kernels is None or not _enabled or b * h * w < MIN_PIXELS or torch.is_grad_enabled() or not fits:
        activated = [p if s == 1 else torch.nn.functional.leaky_relu(p, s) for p, s in zip(parts, slopes, strict=False)]
        return torch.cat(activated, dim=1)
    out = torch.empty(b, sum(p.shape[1] for p in parts), h, w, memory_format=torch.channels_last)
    array = (_Piece * len(parts))(*(_piece(p) for p in parts))
    _check(
        kernels[2](
            array,
            len(parts),
            out.data_ptr(),
            out.shape[1],
            (_FLOAT * len(parts))(*slopes),
            b * h * w,
            _threads(b * h * w),
        )
    )
    return out


def _piece(t: torch.Tensor) -> _Piece:
    """A dense channels-last tensor as a kernel piece: a pixel is its channels."""
    return _Piece(t.data_ptr(), None, t.shape[1], 0, t.shape[1])


def _threads(pixels: int) -> int:
    return native.threads_for(pixels, PIXELS_PER_THREAD)


def _check(status: int) -> None:
    native.check(status, "blur2video.model._dense_cpu")
