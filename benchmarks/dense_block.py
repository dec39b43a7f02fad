"""Where a full-scale dense block's inference time goes: the whole fanned block against its 3x3
convs alone and its 1x1 transition alone, at 1280x736 (README "Benchmarks", issue 4).

    python benchmarks/dense_block.py [--width 1280 --height 736 --cin 21 --cout 12 --growth 8]

The rest of the block's time is the accumulator's strided adds, the copies of each new feature out
of it and the activations. Convs are timed on the same shapes the block runs, with the GFLOP/s of
the arithmetic they do (padding rows included), next to oneDNN's GEMM rate measured in the same run.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _peak import best_of, gemm_rates

from blur2video.model.blocks import CPU_CHANNEL_BLOCK, DenseBlock
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
    x = torch.rand(1, args.cin, args.height, args.width).contiguous(memory_format=cl)
    feature = torch.rand(1, args.growth, args.height, args.width).contiguous(memory_format=cl)
    pieces = [x] + [feature] * len(block.convs)
    with torch.inference_mode():
        total = best_of(lambda: block(x), 5)
        rows, start = [], 0
        for k, piece in enumerate(pieces[:-1]):
            weight, bias = block._fanned_weights(k, start, piece.shape[1], CPU_CHANNEL_BLOCK)
            start += piece.shape[1]
            seconds = best_of(lambda: F.conv2d(piece, weight, bias, padding=1), 5)
            flops = 2 * weight.numel() * args.height * args.width
            rows.append((f"3x3 conv {k}: {piece.shape[1]} -> {weight.shape[0]} channels", seconds, flops / seconds / 1e9))
        fuse = best_of(lambda: block._fanned_fuse(pieces), 5)
    convs = sum(r[1] for r in rows)
    print(f"dense block {args.cin} -> {args.cout}, growth {args.growth}, {args.width}x{args.height}, 2 threads; oneDNN GEMM {rates['oneDNN GEMM']:.0f} GFLOP/s")
    print()
    print("| part | ms | GFLOP/s |")
    print("|---|---:|---:|")
    for name, seconds, rate in rows:
        print(f"| {name} | {seconds * 1e3:.1f} | {rate:.0f} |")
    print(f"| 1x1 transition (`addmm` per piece) | {fuse * 1e3:.1f} | |")
    print(f"| the rest: strided adds, feature copies, activations | {(total - convs - fuse) * 1e3:.1f} | |")
    print(f"| whole block (fanned) | {total * 1e3:.1f} | |")


if __name__ == "__main__":
    main()
