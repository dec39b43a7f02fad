"""docs/gallery/: real blurred photos restored by a model, beside a published deblurring result.

For every photo of ``--photos`` (default ../shared/data/real_blur/blurred) it writes
``NAME.jpg``: the blurred input | the restored middle frame | DeepDeblur's published result for
the same photo (../shared/data/real_blur/deepdeblur, Nah, Kim and Lee, CVPR 2017), each scaled to
``--width`` pixels, with labels above, and below them the central third of each at full
resolution (where blur is visible); and ``NAME.gif``: the restored frames as a ping-pong
animation at half that width. The photos have no ground truth: the gallery is for eyes, and
``index.md`` lists the model and the confidence it reported per frame.

    python scripts/make_gallery.py --out docs/gallery
    python scripts/make_gallery.py --checkpoint runs/x/model.safetensors --out /tmp/gallery
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from blur2video.errors import Blur2VideoError
from blur2video.fileio import read_image, to_uint8
from blur2video.outputs import write_gif

LABEL_HEIGHT = 22


def labelled(image: np.ndarray, label: str, width: int) -> Image.Image:
    """An HxWx3 float image scaled to ``width`` with ``label`` written on a white band above it."""
    pil = Image.fromarray(to_uint8(image))
    pil = pil.resize((width, round(pil.height * width / pil.width)), Image.LANCZOS)
    canvas = Image.new("RGB", (pil.width, pil.height + LABEL_HEIGHT), "white")
    canvas.paste(pil, (0, LABEL_HEIGHT))
    ImageDraw.Draw(canvas).text((6, 5), label, fill="black")
    return canvas


def side_by_side(panels: list[Image.Image], gap: int = 6) -> Image.Image:
    out = Image.new(
        "RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1), max(p.height for p in panels)), "white"
    )
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width + gap
    return out


def _stack(top: Image.Image, bottom: Image.Image, gap: int = 6) -> Image.Image:
    out = Image.new("RGB", (max(top.width, bottom.width), top.height + gap + bottom.height), "white")
    out.paste(top, (0, 0))
    out.paste(bottom, (0, top.height + gap))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photos",
        type=Path,
        default=Path("../shared/data/real_blur/blurred"),
        help="real blurred photos (default: %(default)s)",
    )
    parser.add_argument(
        "--published",
        type=Path,
        default=Path("../shared/data/real_blur/deepdeblur"),
        help="the same photos deblurred by DeepDeblur, same names (default: %(default)s)",
    )
    parser.add_argument("--checkpoint", default=None, help="a model .safetensors (default: the bundled model)")
    parser.add_argument("--out", type=Path, required=True, help="gallery folder (NAME.jpg, NAME.gif, index.md)")
    parser.add_argument("--width", type=int, default=400, help="pixels per panel")
    args = parser.parse_args(argv)
    try:
        from blur2video.restore import Restorer

        if not args.photos.is_dir():
            raise Blur2VideoError(f"{args.photos}: no such folder of real blurred photos")
        restorer = Restorer.from_checkpoint(args.checkpoint) if args.checkpoint else Restorer.from_pretrained()
        args.out.mkdir(parents=True, exist_ok=True)
        rows = [
            "# Real blurred photos restored",
            "",
            f"Model: `{args.checkpoint or 'the bundled model'}`. Made by `python scripts/make_gallery.py --out "
            f"{args.out}` on {date.today()}. "
            "Left to right: the real blurred photo, our restored middle frame, DeepDeblur's published result "
            "(Nah, Kim, Lee, CVPR 2017, from the DeepDeblur_release repository). The GIF is our restored sequence. "
            "No ground truth exists for these photos.",
            "",
            "| photo | input / ours (middle) / DeepDeblur | our frames | confidence per frame |",
            "|---|---|---|---|",
        ]
        for path in sorted(args.photos.glob("*.png"), key=lambda p: p.name):
            blur = read_image(path)
            video = restorer.restore(blur)
            mid = video.frames[len(video.frames) // 2]
            images = [(blur, "blurred input"), (mid, "blur2video: middle frame")]
            published = args.published / path.name
            if published.is_file():
                images.append((read_image(published), "DeepDeblur (published)"))
            h, w = blur.shape[:2]
            crop = (slice(h // 3, h - h // 3), slice(w // 3, w - w // 3))
            whole = side_by_side([labelled(im, label, args.width) for im, label in images])
            detail = side_by_side([labelled(im[crop], "central third", args.width) for im, _ in images])
            _stack(whole, detail).save(args.out / f"{path.stem}.jpg", quality=88)
            small = [
                np.asarray(
                    Image.fromarray(f).resize(
                        (args.width // 2, round(f.shape[0] * args.width / 2 / f.shape[1])), Image.LANCZOS
                    )
                )
                for f in video.frames_uint8()
            ]
            write_gif(args.out / f"{path.stem}.gif", np.stack(small), fps=8.0, pingpong=True)
            conf = (
                "n/a (no gate)"
                if video.motion.confidence is None
                else " ".join(f"{c:.2f}" for c in video.motion.confidence)
            )
            rows.append(
                f"| {path.stem} | ![{path.stem}]({path.stem}.jpg) | ![{path.stem} frames]({path.stem}.gif) | {conf} |"
            )
            print(f"{path.name}: done", flush=True)
        (args.out / "index.md").write_text("\n".join(rows) + "\n")
    except Blur2VideoError as exc:
        print(f"make_gallery: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
