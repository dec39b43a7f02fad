"""Probe (experiments/README.md, "the reblur fallback"): what the reblur fallback (model/reblur_gate.py)
buys the bundled network's non-middle frames (its own fallback switched off), per scale s, window
sigma and relative term, and with sensor noise added to the blurred input. Gains in dB over the
blurred input (the clean one), order-invariant, on the first samples of each held-out set
(scripts/make_heldout.sh).

    python experiments/reblur_fallback.py [--sets gopro-full photo-1deg ...] [--samples 16] [--noise 0 0.01]
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from blur2video.fileio import read_image
from blur2video.metrics import psnr
from blur2video.model.reblur_gate import blend_towards_blur, reblur_confidence
from blur2video.restore import Restorer


def best_order(frames: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame PSNR in the order (forward or reversed) with the higher mean."""
    out, ref = torch.from_numpy(np.ascontiguousarray(frames)), torch.from_numpy(truth)
    fwd, rev = psnr(out, ref).numpy(), psnr(out, ref.flip(0)).numpy()
    return fwd if fwd.mean() >= rev.mean() else rev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["gopro-full", "photo-1deg", "scenes", "photo-3deg"])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.015, 0.02])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[4.0])
    parser.add_argument("--relatives", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.35])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01, 0.02])
    args = parser.parse_args()
    restorer = Restorer.from_pretrained()
    restorer.model.config = replace(restorer.model.config, fallback=0.0)  # the network's own frames
    rng = np.random.default_rng(0)
    print("| set | noise | variant | first | last | lowest frame | mean of frames |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in args.sets:
        root = Path("heldout") / name
        rows = [json.loads(line) for line in (root / "index.jsonl").read_text().splitlines()][: args.samples]
        for sigma_noise in args.noise:
            scores: dict[str, list[np.ndarray]] = {}
            for row in rows:
                clean = read_image(root / row["blur"])
                truth = np.stack([read_image(root / f) for f in row["frames"]])
                blur = np.clip(clean + rng.normal(0, sigma_noise, clean.shape), 0, 1).astype(np.float32)
                frames = restorer.restore(blur, max_pixels=10**8).frames
                variants = {"blurred input": np.repeat(clean[None], len(truth), 0), "network": frames}
                b, f = torch.from_numpy(blur).permute(2, 0, 1)[None], torch.from_numpy(frames).permute(0, 3, 1, 2)[None]
                for s, sigma, k in itertools.product(args.scales, args.sigmas, args.relatives):
                    trust = reblur_confidence(b, f, s, sigma, k)[:, None].expand(-1, f.shape[1], -1, -1)
                    gated = blend_towards_blur(b, f, trust)[0].permute(0, 2, 3, 1).numpy()
                    variants[f"fallback s={s} sigma={sigma:g} relative={k}"] = gated
                for key, out in variants.items():
                    scores.setdefault(key, []).append(best_order(out, truth))
            base = np.mean(scores.pop("blurred input"), 0)
            for key, values in scores.items():
                g = np.mean(values, 0) - base
                cells = " | ".join(f"{x:+.2f}" for x in (g[0], g[-1], g.min(), g.mean()))
                print(f"| {name} | {sigma_noise} | {key} | {cells} |")


if __name__ == "__main__":
    main()
