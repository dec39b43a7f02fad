"""Does fitting the global motion to the blur make the reported motion follow the photo (issue 24 item 2)?

A blurred photo is the mean of its frames. If the frames are the restored middle frame M warped
along a path of affines, theta_k = I + s_k G with s_k evenly from -1 to 1 (a motion linear in time,
symmetric about the middle), then the mean of the warps of M must equal the blur. This probe finds
G by gradient descent on that reblur error (border ignored, at half resolution), starting from
the network's own motion projected onto the linear path, and compares the end-point error of
three global motions against the true flows of held-out camera-rotation blur: none (zero), the
network's finest image affines, and the fitted path. It also scores the frames the fitted path
gives (M warped) against the network's frames. The fit needs no training.

    python experiments/motion_fit.py heldout/photo-1deg heldout/photo-2deg --samples 16

The fit is local: it starts from the network's motion, and with ``--starts`` also from
translations in four directions of two lengths (coarse to fine), keeping the best. ``--middle``
says which frame is reblurred: the network's (what restore does), the network's sharpened by a
shock filter (Osher and Rudin 1990, the edge prediction of Cho and Lee 2009), or the true middle
frame (an oracle: what the fit gives when the middle frame is sharp).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from blur2video import Restorer
from blur2video.data.dataset import FolderDataset
from blur2video.geometry.warp import affine_to_flow, warp_affine
from blur2video.metrics import score_sequences
from blur2video.motion_fit import fit_path as fit_one
from blur2video.motion_fit import linear_path, project_to_path, reblur_along
from blur2video.motion_truth import end_point_error, rotation_flows

BORDER = 8  # pixels ignored: content enters and leaves the view there (as evaluate's EPE_BORDER)


def fit_path(
    blur: torch.Tensor,
    middle: torch.Tensor,
    frames: int,
    starts: list[torch.Tensor],
    steps: int = 60,
    scale: float = 0.5,
    lr: float = 2e-3,
) -> torch.Tensor:
    """blur2video.motion_fit's fit from each of ``starts`` at ``scale``, keeping the G whose
    reblurred ``middle`` best matches ``blur`` (1, 3, H, W)."""
    if scale != 1:
        blur, middle = (F.interpolate(t, scale_factor=scale, mode="area") for t in (blur, middle))
    best: tuple[float, torch.Tensor] | None = None
    for start in starts:
        generator = fit_one(blur, middle, frames, start, steps=steps, lr=lr)
        with torch.no_grad():
            error = F.mse_loss(reblur_along(middle, generator, frames), blur).item()
        if best is None or error < best[0]:
            best = (error, generator)
    assert best is not None
    return best[1]


def shock_filter(image: torch.Tensor, steps: int = 8, dt: float = 0.25, sigma: float = 1.0) -> torch.Tensor:
    """Osher-Rudin shock filter of (1, C, H, W): each step moves every pixel against the sign of the
    (slightly smoothed) Laplacian times the gradient's size, so blurred edges turn into steps."""
    radius = max(1, round(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).view(1, 1, 1, -1)
    c = image.shape[1]
    out = image.clone()
    for _ in range(steps):
        padded = F.pad(out, (1, 1, 1, 1), mode="replicate")
        gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
        gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
        rows, cols = kernel.expand(c, 1, 1, -1), kernel.transpose(2, 3).expand(c, 1, -1, 1)
        smooth = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="replicate"), rows, groups=c)
        smooth = F.conv2d(F.pad(smooth, (0, 0, radius, radius), mode="replicate"), cols, groups=c)
        sp = F.pad(smooth, (1, 1, 1, 1), mode="replicate")
        laplacian = sp[..., 1:-1, 2:] + sp[..., 1:-1, :-2] + sp[..., 2:, 1:-1] + sp[..., :-2, 1:-1] - 4 * smooth
        out = out - dt * torch.sign(laplacian) * torch.sqrt(gx**2 + gy**2)
    return out.clamp(0, 1)


def deconvolve(blur: torch.Tensor, start: torch.Tensor, generator: torch.Tensor, frames: int, steps: int, tv: float):
    """The frame whose warps along the linear path of ``generator`` average to ``blur``: ``steps`` of
    Adam on the reblur error plus ``tv`` times its total variation (L1 of its gradients), from
    ``start``."""
    latent = start.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([latent], lr=0.01)
    for _ in range(steps):
        data = F.mse_loss(reblur_along(latent, generator, frames), blur)
        variation = (latent[..., 1:, :] - latent[..., :-1, :]).abs().mean()
        variation = variation + (latent[..., :, 1:] - latent[..., :, :-1]).abs().mean()
        optimiser.zero_grad()
        (data + tv * variation).backward()
        optimiser.step()
        with torch.no_grad():
            latent.clamp_(0, 1)
    return latent.detach()


def fit_jointly(
    blur: torch.Tensor, middle: torch.Tensor, frames: int, start: torch.Tensor, rounds: int, tv: float
) -> torch.Tensor:
    """Blind deconvolution along the path at half resolution: the motion fitted to the current
    frame, then the frame deconvolved along that motion, ``rounds`` times."""
    blur, latent = (F.interpolate(t, scale_factor=0.5, mode="area") for t in (blur, middle))
    generator = start
    for _ in range(rounds):
        generator = fit_one(blur, latent, frames, generator, steps=60, lr=2e-3)
        latent = deconvolve(blur, latent, generator, frames, steps=40, tv=tv)
    return fit_one(blur, latent, frames, generator, steps=60, lr=2e-3)


def translations(lengths: tuple[float, ...] = (0.03, 0.08)) -> list[torch.Tensor]:
    """Generators of pure translation in four directions per length (normalised units)."""
    out = []
    for r in lengths:
        for a in np.arange(4) * np.pi / 4:
            out.append(torch.tensor([[0.0, 0.0, r * np.cos(a)], [0.0, 0.0, r * np.sin(a)]]))
    return out


def path_epe(thetas: torch.Tensor, truth: torch.Tensor) -> float:
    """End-point error (px) of the affines' flow against the true (N, 2, H, W) flows, better order."""
    flow = affine_to_flow(thetas.float(), truth.shape[-2], truth.shape[-1])
    return min(end_point_error(flow, t, BORDER).mean().item() for t in (truth, truth.flip(0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", help="held-out camera-rotation DATASET folders")
    parser.add_argument("--samples", type=int, default=16, help="the first SAMPLES of each set")
    parser.add_argument("--starts", action="store_true", help="also start from 8 translations, coarse to fine")
    parser.add_argument(
        "--middle",
        choices=["network", "shock", "truth", "joint"],
        default="network",
        help="the frame reblurred: the network's, it shock-filtered, the true one (an oracle), or the network's "
        "deconvolved along the motion in turns with the fit (joint)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="--middle joint: fit-then-deconvolve rounds")
    parser.add_argument("--tv", type=float, default=0.002, help="--middle joint: the total variation's weight")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = Restorer.from_pretrained("cpu").model.eval()
    print("| set | samples | EPE none | EPE network | EPE fitted | fitted / none | PSNR network | PSNR warps |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for folder in args.sets:
        data, t0 = FolderDataset(folder), time.time()
        epe, psnr = {"none": [], "net": [], "fit": []}, {"net": [], "warp": []}
        count = min(args.samples, len(data))
        for i in range(count):
            blur, target = data[i]
            n, _, h, w = target.shape
            truth = rotation_flows(data.meta(i), n, h, w)
            if truth is None:
                raise SystemExit(f"{folder}: sample {i} is not camera-rotation blur (no true motion)")
            with torch.inference_mode():
                out = model(blur[None])
            network = out.image_affines[0, :, -1] if out.image_affines is not None else out.affines[0, :, 0]
            middle = out.frames[:, n // 2].float().clone()
            reblurred = middle  # "network"; "joint" deconvolves it below
            if args.middle == "shock":
                reblurred = shock_filter(middle)
            elif args.middle == "truth":
                reblurred = target[None, n // 2]
            starts = [project_to_path(network.float())]
            if args.starts:
                coarse = fit_path(blur[None], reblurred, n, starts + translations(), steps=40, scale=0.25, lr=5e-3)
                starts = [coarse]
            if args.middle == "joint":
                generator = fit_jointly(blur[None], middle, n, starts[0], args.rounds, args.tv)
            else:
                generator = fit_path(blur[None], reblurred, n, starts)
            epe["none"].append(end_point_error(torch.zeros_like(truth), truth, BORDER).mean().item())
            epe["net"].append(path_epe(network, truth))
            epe["fit"].append(path_epe(linear_path(generator, n), truth))
            with torch.no_grad():
                warps = warp_affine(middle.expand(n, -1, -1, -1), linear_path(generator, n))
            warps[n // 2] = middle[0]
            psnr["net"].append(score_sequences(out.frames.float().clamp(0, 1), target[None]).psnr.mean())
            psnr["warp"].append(score_sequences(warps[None].clamp(0, 1), target[None]).psnr.mean())
        e = {k: float(np.mean(v)) for k, v in epe.items()}
        print(
            f"| {folder} | {count} | {e['none']:.2f} | {e['net']:.2f} | {e['fit']:.2f} | {e['fit'] / e['none']:.2f}x "
            f"| {np.mean(psnr['net']):.2f} | {np.mean(psnr['warp']):.2f} |",
            flush=True,
        )
        print(f"  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
