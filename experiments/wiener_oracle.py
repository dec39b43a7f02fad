"""Middle-frame PSNR of a non-blind Wiener deconvolution that is told the true camera motion.

    python experiments/wiener_oracle.py heldout/photo-1deg

How much of the middle frame the blur still holds once the motion is known (experiments/README.md):
a model that sharpens without knowing the motion scores like experiments/unsharp_baseline.py;
this is what knowing it buys. Rotation-blur DATASETs only (the motion comes from each sample's
metadata). The blur kernel is the true path of the image centre over all the renders the blur
averaged, applied to the whole photo (rotation makes the true kernel vary slowly across the
view, so this is a lower bound on what the exact motion allows). Wiener: conj(K) B / (|K|^2 + lam),
the blur reflected at its borders.

``--bank`` adds the best of a bank of centred straight kernels (lengths ``BANK_LENGTHS`` px, every
15 degrees), chosen per sample with the truth: how much of the oracle's gain needs only the
blur's axis and length, two numbers a classifier could predict.

``--model CHECKPOINT`` adds the same deconvolution with the path the model reports instead: the
image centre's displacement in each of its N frames (``Restorer.restore``'s flow), joined by
straight segments. It says whether the model's motion is good enough to deblur with.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from middle_frame_table import middle_frame_samples, print_table

from blur2video.errors import Blur2VideoError
from blur2video.metrics import psnr
from blur2video.motion_truth import rotation_flows
from blur2video.restore import Restorer


def centre_kernel(meta: dict, height: int, width: int, pad: int) -> np.ndarray:
    """The blur's true kernel at the image centre (every render's displacement, see path_kernel)."""
    renders = int(meta["n_renders"])
    flows = rotation_flows(meta, renders, height, width)[:, :, height // 2, width // 2].double().numpy()
    return path_kernel(flows, height, width, pad)


def path_kernel(displacements: np.ndarray, height: int, width: int, pad: int) -> np.ndarray:
    """The kernel of a blur that averages views displaced by ``displacements`` (K, 2), on a
    (height + 2 pad, width + 2 pad) periodic grid: view k's pixel p shows the middle frame at
    p + d_k, so blur(p) = mean_k middle(p + d_k)."""
    shape = (height + 2 * pad, width + 2 * pad)
    kernel = np.zeros(shape)
    for dx, dy in displacements:
        x, y = -dx, -dy  # correlation with d_k is convolution with a delta at -d_k
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        for ox, wx in ((0, 1.0 - fx), (1, fx)):
            for oy, wy in ((0, 1.0 - fy), (1, fy)):
                kernel[(y0 + oy) % shape[0], (x0 + ox) % shape[1]] += wx * wy / len(displacements)
    return kernel


BANK_LENGTHS = (1.0, 2.0, 3.0, 4.5, 6.0, 8.0, 11.0)
BANK_ANGLES = tuple(range(0, 180, 15))


def line_displacements(length: float, angle_deg: float, points: int = 33) -> np.ndarray:
    """A straight path of ``length`` px centred on the middle frame (the middle frame of a blur at
    constant angular velocity sits at the centre of the path), at ``angle_deg`` from the x axis."""
    t = np.linspace(-length / 2, length / 2, points)
    a = math.radians(angle_deg)
    return np.stack([t * math.cos(a), t * math.sin(a)], axis=1)


def densify(frames: np.ndarray, steps: int = 16) -> np.ndarray:
    """N frame displacements (N, 2) -> the path through them in ``steps`` points per segment."""
    t = np.linspace(0.0, len(frames) - 1, steps * (len(frames) - 1) + 1)
    return np.stack([np.interp(t, np.arange(len(frames)), frames[:, i]) for i in range(2)], axis=1)


def _filtered(image: np.ndarray, kernel: np.ndarray, pad: int, response) -> np.ndarray:
    """An (H, W, C) image reflected at its borders onto the kernel's padded grid, multiplied in
    the frequency domain by ``response(fft(kernel))``, cropped back."""
    padded = np.pad(image.astype(np.float64), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    k = np.fft.fft2(kernel)[..., None]
    return np.real(np.fft.ifft2(np.fft.fft2(padded, axes=(0, 1)) * response(k), axes=(0, 1)))[pad:-pad, pad:-pad]


def blur_with(image: np.ndarray, kernel: np.ndarray, pad: int) -> np.ndarray:
    """The image blurred by the kernel: from the middle frame it must give back the blur."""
    return _filtered(image, kernel, pad, lambda k: k)


def wiener(blur: np.ndarray, kernel: np.ndarray, pad: int, lam: float) -> np.ndarray:
    """Deconvolve an (H, W, C) blur by a kernel on its padded grid; the result is clipped to [0, 1]."""
    estimate = _filtered(blur, kernel, pad, lambda k: np.conj(k) / (np.abs(k) ** 2 + lam))
    return np.clip(estimate, 0.0, 1.0).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a rotation-blur DATASET folder (blurred input, frames, metadata)")
    parser.add_argument("--lams", type=float, nargs="+", default=[0.003, 0.01, 0.02])
    parser.add_argument("--pad", type=int, default=64)
    parser.add_argument("--border", type=int, default=0, help="leave this many pixels at each edge out of the PSNR")
    parser.add_argument(
        "--bank",
        action="store_true",
        help="also the best kernel of a bank of centred straight kernels, chosen with the truth",
    )
    parser.add_argument(
        "--model", help='also deconvolve with the path this checkpoint reports ("bundled": the bundled model)'
    )
    args = parser.parse_args()
    try:
        header, samples = middle_frame_samples(args.data)
    except Blur2VideoError as exc:
        parser.exit(2, f"wiener_oracle: {exc}\n")
    if header.get("kind") != "rotation":
        parser.exit(
            2,
            f"wiener_oracle: {args.data} holds {header.get('kind')} blur; "
            "it needs rotation blur, whose motion is known\n",
        )
    b, pad = args.border, args.pad

    def score(image: np.ndarray, target: torch.Tensor) -> float:
        pred = torch.from_numpy(np.asarray(image, np.float32)).permute(2, 0, 1)
        return float(
            psnr(
                pred[:, b : pred.shape[1] - b, b : pred.shape[2] - b],
                target[:, b : target.shape[1] - b, b : target.shape[2] - b],
            )
        )

    restorer = None
    if args.model:
        try:
            restorer = (
                Restorer.from_pretrained("cpu")
                if args.model == "bundled"
                else Restorer.from_checkpoint(args.model, "cpu")
            )
        except Blur2VideoError as exc:
            parser.exit(2, f"wiener_oracle: {exc}\n")
    scores: dict[str, list[float]] = {}
    for record, blur, target in samples:
        kernel = centre_kernel(record["meta"], *blur.shape[:2], pad)
        remade = blur_with(target.permute(1, 2, 0).numpy(), kernel, pad)
        results = {
            "blurred input": score(blur, target),
            "blur re-made from the middle frame (kernel check)": score(remade, torch.from_numpy(blur).permute(2, 0, 1)),
        }
        for lam in args.lams:
            results[f"Wiener, true centre kernel, lam {lam}"] = score(wiener(blur, kernel, pad, lam), target)
        if args.bank:
            bank = [
                path_kernel(line_displacements(n, a), *blur.shape[:2], pad) for n in BANK_LENGTHS for a in BANK_ANGLES
            ]
            for lam in args.lams:
                best = max(score(wiener(blur, k, pad, lam), target) for k in bank)
                results[f"Wiener, best straight kernel of {len(bank)} (chosen with the truth), lam {lam}"] = best
        if restorer is not None:
            video = restorer.restore(blur)
            h, w = blur.shape[:2]
            reported = path_kernel(densify(video.motion.flow[:, :, h // 2, w // 2].astype(np.float64)), h, w, pad)
            results["the model's middle frame"] = score(video.frames[len(video.frames) // 2], target)
            for lam in args.lams:
                results[f"Wiener, the model's centre path, lam {lam}"] = score(wiener(blur, reported, pad, lam), target)
        for name, value in results.items():
            scores.setdefault(name, []).append(value)
    print_table(args.data, header, scores, f", {b} px borders left out" if b else "")


if __name__ == "__main__":
    main()
