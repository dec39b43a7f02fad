"""Where a full-scale dense block's inference time goes: the whole fanned block with its one-pass
C kernels and with torch ops only (the peer, measured in the same run), against its 3x3 convs
alone, at 1280x736 (docs/benchmarks.md, "A full-scale dense block"; issue 4).

    python benchmarks/dense_block.py [--width 1280 --height 736 --cin 21 --cout 12 --growth 8]

The rest of the block's time is what joins the convs: per new feature an accumulation, a copy
and an activation, then the 1x1 transition. Convs are timed on the shapes the block runs, with
the GFLOP/s of the arithmetic they do (padding rows included), next to oneDNN's GEMM rate.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _peak import best_of, gemm_rates

from blur2video.model import dense_cpu
from blur2video.model.blocks import DenseBlock
from blur2video.runtime import keep_freed_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=736)
    parser.add_argument("--cin", type=int, default=21)
    parser.add_argument("--cout", type=int, default=12)
    parser.add_argument("--growth", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(2)
    keep_freed_memory()  # as the CLI does
    rates = gemm_rates()
    block = DenseBlock(args.cin, args.cout, args.growth).eval()
    cl = torch.channels_last
    x = torch.randn(1, args.cin, args.height, args.width).contiguous(memory_format=cl)
    feature = torch.randn(1, args.growth, args.height, args.width).contiguous(memory_format=cl)
    with torch.inference_mode():
        weights = block.fanned_weights("cpu")
        pieces = [x] + [feature] * (len(weights) - 1)
        rows = []
        for k, ((weight, bias), piece) in enumerate(zip(weights, pieces, strict=False)):
            seconds = best_of(lambda p=piece, w=weight, b=bias: F.conv2d(p, w, b, padding=1), 5)
            flops = 2 * weight.numel() * args.height * args.width
            rows.append(
                (f"3x3 conv {k}: {piece.shape[1]} -> {weight.shape[0]} channels", seconds, flops / seconds / 1e9)
            )
        kernels = best_of(lambda: block(x), 5) if dense_cpu.available() else None
        with dense_cpu.disabled():
            torch_ops = best_of(lambda: block(x), 5)
    convs = sum(r[1] for r in rows)
    print(
        f"dense block {args.cin} -> {args.cout}, growth {args.growth}, {args.width}x{args.height}, 2 threads; "
        f"oneDNN GEMM {rates['oneDNN GEMM']:.0f} GFLOP/s"
    )
    print()
    print("| part | ms | GFLOP/s |")
    print("|---|---:|---:|")
    for name, seconds, rate in rows:
        print(f"| {name} | {seconds * 1e3:.1f} | {rate:.0f} |")
    print(f"| all five convs | {convs * 1e3:.1f} | |")
    for name, total in (("C kernels (`dense_cpu`)", kernels), ("torch ops only (the peer)", torch_ops)):
        if total is None:
            print(f"| whole block, {name} | not built | |")
            continue
        print(f"| whole block, {name} | {total * 1e3:.1f} | |")
        print(f"| of which the rest: accumulation, copies, activations, transition | {(total - convs) * 1e3:.1f} | |")
    if kernels is not None:
        print()
        print(
            f"Whole block: the kernels take {kernels / torch_ops:.2f}x the torch ops' time; "
            f"the rest {(kernels - convs) / (torch_ops - convs):.2f}x."
        )


if __name__ == "__main__":
    main()
