"""Does the motion a model reports for real dynamic blur point the way the scene moved? (issue 24)

For every window of 7 (N) consecutive frames of a high-speed clip, the blur is their mean; the
model restores it and reports a backward flow per frame (frame pixel -> where it sits in the
middle frame). The reference is a classical optical flow between the true frames: OpenCV's DIS
from the first (last) true frame to the middle one, in the same convention. Per window it prints
the cosine between the model's and the reference's flow of the first and last frames, averaged
over the pixels whose reference motion exceeds ``--min-motion`` pixels (a static background says
nothing of direction), taking the better of both orders as the evaluation does (the blur cannot
tell forward from backward). 1 is the same direction everywhere, 0 unrelated, -1 opposite.

    pip install opencv-python-headless
    python experiments/motion_direction.py ../shared/data/gopro/GOPR0477_11_00 --first 15 --last 21
    python experiments/motion_direction.py FRAMES --checkpoint runs/x/model.safetensors --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from blur2video.errors import Blur2VideoError
from blur2video.fileio import read_image


def dis_flow(frame: np.ndarray, middle: np.ndarray) -> np.ndarray:
    """(2, H, W) backward flow: ``frame(x) ~ middle(x + flow(x))`` by OpenCV's DIS (medium preset)."""
    try:
        import cv2
    except ImportError:
        raise Blur2VideoError("the reference flow needs OpenCV: pip install opencv-python-headless") from None
    grey = [
        cv2.cvtColor((np.clip(im, 0, 1) * 255).round().astype(np.uint8), cv2.COLOR_RGB2GRAY) for im in (frame, middle)
    ]
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(grey[0], grey[1], None)
    return np.ascontiguousarray(flow.transpose(2, 0, 1))


def cosine_where_moving(model: np.ndarray, reference: np.ndarray, min_motion: float) -> float:
    """Mean cosine between two (2, H, W) flows over the pixels where the reference moves more
    than ``min_motion`` px; nan where nothing moves that much. A zero model flow scores 0."""
    moving = np.hypot(*reference) > min_motion
    if not moving.any():
        return float("nan")
    dot = (model * reference).sum(0)
    norms = np.hypot(*model) * np.hypot(*reference)
    cos = np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 1e-9)
    return float(cos[moving].mean())


def agreement(
    model_flows: np.ndarray, reference_first: np.ndarray, reference_last: np.ndarray, min_motion: float
) -> dict:
    """Cosines of the model's first and last frames (``model_flows`` (N, 2, H, W)) against the
    reference flows of the true first and last frames, in the better of both orders."""
    forward = [
        cosine_where_moving(model_flows[0], reference_first, min_motion),
        cosine_where_moving(model_flows[-1], reference_last, min_motion),
    ]
    backward = [
        cosine_where_moving(model_flows[-1], reference_first, min_motion),
        cosine_where_moving(model_flows[0], reference_last, min_motion),
    ]
    reverse = np.nanmean(backward) > np.nanmean(forward)
    first, last = backward if reverse else forward
    return {"cos_first": first, "cos_last": last, "reversed": bool(reverse)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", type=Path, help="a folder of consecutive frames (sorted by name)")
    parser.add_argument("--first", type=int, default=1, help="first frame used (1-based, inclusive)")
    parser.add_argument("--last", type=int, default=0, help="last frame used (1-based, inclusive; 0: the last)")
    parser.add_argument("--n", type=int, default=7, help="frames per window (the model's N)")
    parser.add_argument("--checkpoint", default=None, help="a model .safetensors (default: the bundled model)")
    parser.add_argument("--min-motion", type=float, default=1.0, help="pixels: slower reference motion is left out")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    try:
        from blur2video.restore import Restorer

        files = (
            sorted(p for p in args.frames.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
            if args.frames.is_dir()
            else []
        )
        files = files[args.first - 1 : args.last or None]
        if len(files) < args.n:
            raise Blur2VideoError(f"{args.frames}: {len(files)} frames in the range; a window needs {args.n}")
        restorer = Restorer.from_checkpoint(args.checkpoint) if args.checkpoint else Restorer.from_pretrained()
        if restorer.frames != args.n:
            raise Blur2VideoError(
                f"{args.checkpoint}: the model restores {restorer.frames} frames; pass --n {restorer.frames}"
            )
        rows = []
        for start in range(len(files) - args.n + 1):
            frames = np.stack([read_image(p) for p in files[start : start + args.n]])
            video = restorer.restore(frames.mean(0), max_pixels=10**8)
            mid = args.n // 2
            row = agreement(
                video.motion.flow, dis_flow(frames[0], frames[mid]), dis_flow(frames[-1], frames[mid]), args.min_motion
            )
            row.update(
                window=[files[start].name, files[start + args.n - 1].name],
                confidence=None if video.motion.confidence is None else video.motion.confidence.round(3).tolist(),
            )
            rows.append(row)
            print(
                f"{row['window'][0]}..{row['window'][1]}: "
                f"cos first {row['cos_first']:+.3f}, last {row['cos_last']:+.3f}"
                f"{' (reversed)' if row['reversed'] else ''}",
                flush=True,
            )
        summary = {
            "windows": rows,
            "mean_cos_first": float(np.nanmean([r["cos_first"] for r in rows])),
            "mean_cos_last": float(np.nanmean([r["cos_last"] for r in rows])),
            "min_motion_px": args.min_motion,
            "checkpoint": args.checkpoint or "bundled",
        }
        print(f"mean: cos first {summary['mean_cos_first']:+.3f}, last {summary['mean_cos_last']:+.3f}")
        if args.json:
            args.json.write_text(json.dumps(summary, indent=1))
    except Blur2VideoError as exc:
        print(f"motion_direction: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
