"""Does the kernel-bank head gain if it picks its blend per region instead of once per photo?

The head (model/kernel_bank.py) averages its spectrum CNN's logits over up to 16 tiles and
deconvolves the whole photo with one filter blend. Real blur varies over the photo (moving
objects, a camera roll), so here each 96-px tile on a grid of stride 48 gets its own blend
(optionally pulled towards the photo's mean logits by ``--mix``), its own share of the network's
candidate, and the tiles' outputs are added with overlapping sin^2 windows.

    python experiments/local_bank.py heldout/photo-1deg heldout/photo-3deg heldout/gopro-full \
        --mix 0 0.5 1 --samples 16

Prints the middle frame's PSNR (dB) of the blur, the network's own middle frame, the bundled
(global) head and the local head at each ``--mix`` (1 = the global blend, per tile windows).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from blur2video.checkpoints import load_model
from blur2video.data.dataset import FolderDataset
from blur2video.metrics import psnr
from blur2video.model.kernel_bank import (
    BANK_ANGLES,
    BANK_LENGTHS,
    TILE,
    box_transfer,
    strided_starts,
    wiener_gain,
)
from blur2video.model.kernel_bank import (
    sin2_window as head_window,
)
from blur2video.model.network import pad_to_levels
from blur2video.restore import bundled_weights

CONTEXT = 24  # px of the blur around each tile that its deconvolution reads


def sin2_window(n: int) -> torch.Tensor:
    """The head's 1-D sin^2 window, as a square."""
    w = head_window(n)
    return w[:, None] * w[None]


@torch.no_grad()
def oracle_middle(
    blur: torch.Tensor, candidate: torch.Tensor, truth: torch.Tensor, stride: int = TILE // 2, lam: float = 0.01
) -> torch.Tensor:
    """Each tile's best single filter of the bank at one lambda (or the candidate), chosen with the
    truth: what a local head could reach at most with straight kernels."""
    _, _, h, w = blur.shape
    tile = min(TILE, h, w)
    boxes = [(y, x) for y in strided_starts(h, tile, stride) for x in strided_starts(w, tile, stride)]
    size = tile + 2 * CONTEXT
    padded = F.pad(blur, (CONTEXT,) * 4, mode="reflect")
    spectra = torch.fft.fft2(torch.stack([padded[0, :, y : y + size, x : x + size] for y, x in boxes]))
    truth_t = torch.stack([truth[0, :, y : y + tile, x : x + tile] for y, x in boxes])
    best = torch.stack([candidate[0, :, y : y + tile, x : x + tile] for y, x in boxes])
    best_err = (best - truth_t).pow(2).mean((1, 2, 3))
    for length in BANK_LENGTHS[1:]:
        for angle in BANK_ANGLES:
            k = box_transfer(torch.tensor([length]), torch.tensor([float(angle)]), size, size)
            out = torch.fft.ifft2(spectra * wiener_gain(k, lam)).real[..., CONTEXT:-CONTEXT, CONTEXT:-CONTEXT]
            err = (out - truth_t).pow(2).mean((1, 2, 3))
            better = err < best_err
            best[better], best_err[better] = out[better], err[better]
    window = sin2_window(tile)
    total, weight = torch.zeros_like(blur[0]), torch.zeros_like(blur[0, :1])
    for t, (y, x) in enumerate(boxes):
        total[:, y : y + tile, x : x + tile] += window * best[t]
        weight[:, y : y + tile, x : x + tile] += window
    return (total / weight)[None]


@torch.no_grad()
def local_middle(
    head, blur: torch.Tensor, candidate: torch.Tensor, stride: int = TILE // 2, mix: float = 0.0
) -> torch.Tensor:
    """(1, 3, H, W) blur and candidate -> the middle frame, each tile (``stride`` apart, windows of
    the tile's size) with its own blend pulled ``mix`` towards the photo's: the head's own local
    mode at this probe's grid."""
    kept, head.mix = head.mix, mix
    try:
        return head.local(blur, candidate, stride=stride, reach=0)
    finally:
        head.mix = kept


def _global(head, blur: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """One blend for the whole photo (the head before its local mode)."""
    filters, kept = head.weights(blur)
    return head.deconvolve(blur, filters) + kept.view(-1, 1, 1, 1) * candidate


def _head(head, blur: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """The head's own local mode (``KernelBankDeblur.local``: tiles a tile apart, windows twice
    the tile), beside this script's (tiles half a tile apart, windows the tile's size)."""
    return head.local(blur, candidate) if min(blur.shape[-2:]) >= TILE else head(blur, candidate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--mix", type=float, nargs="+", default=[0.0, 0.5])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--oracle", action="store_true", help="add each tile's best filter, chosen with the truth")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, _ = load_model(args.checkpoint or bundled_weights())
    mid = model.config.middle
    print(
        "| set | blur | network | head (global) | "
        + " | ".join(f"local, mix {m}" for m in args.mix)
        + f" | the head's local mode (mix {model.kernel_bank.mix})"
        + (" | oracle per tile" if args.oracle else "")
        + " |"
    )
    print("|---|" + "---:|" * (4 + len(args.mix) + args.oracle))
    for root in args.data:
        ds = FolderDataset(root)
        scores: dict[str, list[float]] = {}
        for i in range(min(args.samples, len(ds))):
            blur, frames = ds[i]
            blur, truth = blur[None].float(), frames[mid][None].float()
            with torch.no_grad():
                own = model(blur, bank=False, fallback=False).frames[:, mid]
                h, w = blur.shape[-2:]
                x, c = pad_to_levels(blur), pad_to_levels(own)
                rows = {
                    "blur": blur,
                    "network": own,
                    "global": _global(model.kernel_bank, x, c)[..., :h, :w],
                    **{f"local{m}": local_middle(model.kernel_bank, x, c, mix=m)[..., :h, :w] for m in args.mix},
                    "head": _head(model.kernel_bank, x, c)[..., :h, :w],
                }
                if args.oracle:
                    rows["oracle"] = oracle_middle(blur, own, truth)
            for name, img in rows.items():
                scores.setdefault(name, []).append(float(psnr(img.clamp(0, 1), truth)))
        means = [sum(v) / len(v) for v in scores.values()]
        print(f"| {root.name} ({len(scores['blur'])}) | " + " | ".join(f"{m:.2f}" for m in means) + " |")


if __name__ == "__main__":
    main()
