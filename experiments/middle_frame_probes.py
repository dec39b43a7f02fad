"""Probes of why the middle frame barely beats the blur: small trainings, each scored on a DATASET.

    python experiments/middle_frame_probes.py middle-path heldout/photo-1deg --steps 3250
    python experiments/middle_frame_probes.py plain-cnn heldout/photo-1deg --steps 2750
    python experiments/middle_frame_probes.py axis-length heldout/photo-1deg --train ROTATION_DATASET --steps 2500

- ``middle-path``: the model's own middle path (encoder, middle decoder, refining block) trained
  on the middle frame alone, on the config's streams, from the bundled weights. It skips the six
  other decoders, so a step costs a third: does the middle frame rise with more updates?
- ``plain-cnn``: a plain full-resolution residual CNN (dilated 3x3 convs) on the same streams and
  middle frame, from scratch: is the U-Net's narrow full-resolution path the limit?
- ``axis-length``: a CNN on the blur's windowed log power spectrum regresses the axis and length
  of the middle frame's blur (the true centre path of a rotation DATASET, in the doubled-angle
  form the blur's order ambiguity allows), then the held-out blur is Wiener-deconvolved with that
  straight kernel: is a directly supervised motion estimate accurate enough to deblur with?

Each prints JSON lines (step, seconds, held-out middle-frame PSNR) and a last line against the
blur. experiments/README.md holds the measured figures.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from middle_frame_table import middle_frame_samples
from torch import nn
from torch.utils.data import DataLoader
from wiener_oracle import line_displacements, path_kernel, wiener

from blur2video.checkpoints import load_model
from blur2video.errors import Blur2VideoError
from blur2video.losses import DEFAULT_SCALE_WEIGHTS, downsample_targets
from blur2video.metrics import psnr
from blur2video.model.kernel_bank import log_spectrum
from blur2video.model.network import crop_scales
from blur2video.motion_truth import rotation_flows
from blur2video.restore import bundled_weights
from blur2video.train_config import resolve
from blur2video.train_data import build_datasets

Held = list[tuple[torch.Tensor, torch.Tensor, dict]]  # (blur (3, H, W), middle frame, metadata)


def read_held(data: Path, rotation: bool = False) -> Held:
    """A DATASET's blurs, middle frames and metadata; ``rotation``: refuse any other blur (the
    true motion comes from a rotation sample's metadata)."""
    header, samples = middle_frame_samples(data)
    if rotation and header.get("kind") != "rotation":
        raise Blur2VideoError(
            f"{data}: holds {header.get('kind')} blur; axis-length needs rotation blur, whose motion is known"
        )
    return [
        (torch.from_numpy(blur).permute(2, 0, 1).float(), target.float(), record["meta"])
        for record, blur, target in samples
    ]


def psnr_db(pred: torch.Tensor, target: torch.Tensor) -> float:
    """The project's PSNR of the prediction clipped to the image range, as ``blur2video eval`` scores."""
    return float(psnr(pred.clamp(0, 1), target))


def middle_path(model: nn.Module, blur: torch.Tensor) -> list[torch.Tensor]:
    """The middle frame at every scale (1/32 .. 1), as Blur2Video.forward makes it, without the
    other frames."""
    return crop_scales(model.middle_path(blur)[2], *blur.shape[-2:])


class PlainCNN(nn.Module):
    """blur + a correction from dilated 3x3 convs at full resolution (the correction starts at zero)."""

    def __init__(self, width: int = 32, rates: tuple[int, ...] = (1, 2, 4, 8, 2, 1)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.LeakyReLU(0.2)]
        for r in rates:
            layers += [nn.Conv2d(width, width, 3, padding=r, dilation=r), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, blur: torch.Tensor) -> list[torch.Tensor]:
        return [blur + self.out(self.body(blur))]


def train_on_streams(args: argparse.Namespace, held: Held) -> None:
    """middle-path / plain-cnn: Adam on the config's streams, L1 on the middle frame (every scale)."""
    if args.probe == "middle-path":
        model, _ = load_model(bundled_weights())
        model.train()
        for p in model.parameters():
            p.requires_grad_(False)
        params = [
            p
            for part in (model.encoder, model.middle_decoder, model.refine)
            if part is not None
            for p in part.parameters()
        ]
        for p in params:
            p.requires_grad_(True)

        def forward(blur: torch.Tensor) -> list[torch.Tensor]:
            return middle_path(model, blur)
    else:
        model = PlainCNN()
        params = list(model.parameters())
        forward = model
    cfg = resolve(args.config, [])
    train_set, _ = build_datasets(cfg, cfg.model.frames)
    middle = cfg.model.frames // 2
    optimizer = torch.optim.Adam(params, lr=args.lr)

    @torch.no_grad()
    def score() -> float:
        model.eval()
        value = float(np.mean([psnr_db(forward(b[None])[-1][0], t) for b, t, _ in held]))
        model.train()
        return value

    report(0, 0.0, score())
    step, start, epoch = 0, time.time(), 0
    while step < args.steps:
        train_set.set_epoch(epoch)
        for blur, frames, _ in DataLoader(train_set, batch_size=4, shuffle=True, num_workers=1, drop_last=True):
            images = forward(blur)
            weights = DEFAULT_SCALE_WEIGHTS[-len(images) :]
            targets = downsample_targets(frames[:, middle : middle + 1], [tuple(i.shape[-2:]) for i in images])
            loss = sum(w * (i - t[:, 0]).abs().mean() for w, i, t in zip(weights, images, targets, strict=False))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % args.every == 0 or step == args.steps:
                report(step, time.time() - start, score())
            if step >= args.steps:
                break
        epoch += 1


def centre_axis_length(meta: dict, height: int, width: int) -> tuple[float, float]:
    """The true centre path's span as (L cos 2a, L sin 2a): the same for a path and its reverse."""
    flows = rotation_flows(meta, int(meta["n_renders"]), height, width)[:, :, height // 2, width // 2].double().numpy()
    dx, dy = flows[-1] - flows[0]
    return doubled_angle(float(dx), float(dy))


def doubled_angle(dx: float, dy: float) -> tuple[float, float]:
    """A span (dx, dy) as (L cos 2a, L sin 2a): (dx, dy) and (-dx, -dy) give the same pair."""
    length, angle = math.hypot(dx, dy), math.atan2(dy, dx)
    return length * math.cos(2 * angle), length * math.sin(2 * angle)


def axis_length(args: argparse.Namespace, held: Held) -> None:
    """axis-length: regress (L cos 2a, L sin 2a) from tiles of the training DATASET's size."""
    if args.train is None:
        raise Blur2VideoError("axis-length needs --train: a rotation DATASET to learn the axis and length from")
    train = read_held(args.train, rotation=True)
    tile = train[0][0].shape[-1]
    if any(b.shape[-1] % tile or b.shape[-2] % tile for b, _, _ in held):
        raise Blur2VideoError(f"{args.data}: its images must tile into the training DATASET's {tile}-px squares")
    x = log_spectrum(torch.stack([b for b, _, _ in train]))
    y = torch.tensor([centre_axis_length(m, *b.shape[-2:]) for b, _, m in train], dtype=torch.float32)

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.2)]

    net = nn.Sequential(
        *block(1, 32, 1),
        *block(32, 32, 2),
        *block(32, 64, 1),
        *block(64, 64, 2),
        *block(64, 128, 2),
        *block(128, 128, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 2),
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)

    @torch.no_grad()
    def predict(blur: torch.Tensor) -> torch.Tensor:
        """The mean prediction over the image's tiles (a camera rotation blurs them all alike)."""
        tiles = blur.unfold(1, tile, tile).unfold(2, tile, tile).permute(1, 2, 0, 3, 4).reshape(-1, 3, tile, tile)
        return net(log_spectrum(tiles)).mean(0)

    truth = torch.tensor([centre_axis_length(m, *b.shape[-2:]) for b, _, m in held], dtype=torch.float32)
    start = time.time()
    for step in range(1, args.steps + 1):
        pick = torch.randint(0, len(x), (32,))
        loss = (net(x[pick]) - y[pick]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.every == 0 or step == args.steps:
            net.eval()
            guess = torch.stack([predict(b) for b, _, _ in held])
            net.train()
            print(
                json.dumps(
                    {
                        "step": step,
                        "seconds": round(time.time() - start),
                        "error_px": round(float((guess - truth).norm(dim=1).mean()), 3),
                        "zero_motion_error_px": round(float(truth.norm(dim=1).mean()), 3),
                    }
                ),
                flush=True,
            )
    net.eval()
    scores: dict[tuple[float, float], list[float]] = {(lam, k): [] for lam in args.lams for k in args.shrink}
    for blur, target, _ in held:
        c, s = predict(blur).tolist()
        for lam, k in scores:
            kernel = path_kernel(
                line_displacements(k * math.hypot(c, s), math.degrees(math.atan2(s, c) / 2)), *blur.shape[-2:], 64
            )
            scores[lam, k].append(
                psnr_db(
                    torch.from_numpy(wiener(blur.permute(1, 2, 0).numpy(), kernel, 64, lam)).permute(2, 0, 1), target
                )
            )
    for (lam, k), values in scores.items():
        report(args.steps, time.time() - start, float(np.mean(values)), {"wiener_lam": lam, "length_scale": k})


def report(step: int, seconds: float, middle_psnr: float, extra: dict | None = None) -> None:
    print(
        json.dumps(
            {"step": step, "seconds": round(seconds), "heldout_middle_psnr": round(middle_psnr, 3), **(extra or {})}
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=["middle-path", "plain-cnn", "axis-length"])
    parser.add_argument("data", type=Path, help="the DATASET to score on (held out; rotation blur for axis-length)")
    parser.add_argument(
        "--config", default="configs/bundled/4-levers.toml", help="the streams to train on (middle-path, plain-cnn)"
    )
    parser.add_argument(
        "--train", type=Path, help="axis-length: a rotation DATASET with the same blur range, smaller images"
    )
    parser.add_argument(
        "--lams",
        type=float,
        nargs="+",
        default=[0.01, 0.03, 0.1],
        help="axis-length: the Wiener regularisations to score",
    )
    parser.add_argument(
        "--shrink",
        type=float,
        nargs="+",
        default=[1.0],
        help="axis-length: deconvolve with the guessed length times these factors "
        "(a short kernel under-deblurs; a wrong long one rings)",
    )
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--every", type=int, default=250, help="steps between held-out scores")
    parser.add_argument(
        "--lr", type=float, default=None, help="default: 2.5e-4 (middle-path), 2e-4 (plain-cnn), 1e-3 (axis-length)"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.lr = args.lr or {"middle-path": 2.5e-4, "plain-cnn": 2e-4, "axis-length": 1e-3}[args.probe]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        held = read_held(args.data, rotation=args.probe == "axis-length")
        print(
            json.dumps(
                {
                    "probe": args.probe,
                    "data": str(args.data),
                    "blur_middle_psnr": round(float(np.mean([psnr_db(b, t) for b, t, _ in held])), 3),
                }
            ),
            flush=True,
        )
        (axis_length if args.probe == "axis-length" else train_on_streams)(args, held)
    except Blur2VideoError as exc:
        parser.exit(2, f"middle_frame_probes: {exc}\n")


if __name__ == "__main__":
    main()
