"""Writers for a restored photo: frames, GIF/MP4 animation, a side-by-side sheet and the motion.

Everything for one input goes to a temporary folder that is renamed to ``DIR/NAME`` at the end,
so an interrupted or failed restore never leaves half an output behind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from .data.io import to_uint8, write_png
from .restore import RestoredVideo

FORMATS = ("gif", "mp4")


def _sequence(frames: np.ndarray, pingpong: bool) -> np.ndarray:
    """Frames forward, then (ping-pong) back without repeating the ends."""
    return np.concatenate([frames, frames[-2:0:-1]]) if pingpong and len(frames) > 2 else frames


def write_gif(path: Path, frames: np.ndarray, fps: float, pingpong: bool) -> None:
    images = [Image.fromarray(f) for f in _sequence(frames, pingpong)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0, optimize=False)


def write_mp4(path: Path, frames: np.ndarray, fps: float, pingpong: bool) -> None:
    """H.264 via imageio-ffmpeg; odd sizes are padded by one pixel (the codec needs even sizes)."""
    import imageio.v2 as imageio

    seq = _sequence(frames, pingpong)
    h, w = seq.shape[1:3]
    seq = np.pad(seq, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    writer = imageio.get_writer(path, format="FFMPEG", fps=fps, codec="libx264", quality=8, macro_block_size=2, ffmpeg_log_level="error")
    try:
        for f in seq:
            writer.append_data(f)
    finally:
        writer.close()


def sheet(blur: np.ndarray, frames: np.ndarray, height: int = 256) -> np.ndarray:
    """input | frame 0 | ... | frame N-1, each scaled to ``height`` pixels (never up)."""
    h, w = blur.shape[:2]
    scale = min(1.0, height / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    tiles = [np.asarray(Image.fromarray(to_uint8(im)).resize(size, Image.BILINEAR)) for im in (blur, *frames)]
    gap = np.full((size[1], 4, 3), 255, np.uint8)
    row = [tiles[0]]
    for t in tiles[1:]:
        row += [gap, t]
    return np.concatenate(row, axis=1)


def motion_summary(video: RestoredVideo) -> dict:
    """motion.json: per frame, the fitted pixel affine, the displacement of the image centre and
    corners, and the size of the global and local motion."""
    n, _, h, w = video.motion.flow.shape
    points = {"centre": (w / 2, h / 2), "top_left": (0, 0), "top_right": (w - 1, 0), "bottom_left": (0, h - 1), "bottom_right": (w - 1, h - 1)}
    frames = []
    for j in range(n):
        a = video.motion.affines[j].astype(float)
        mag = np.hypot(*video.motion.flow[j])
        frames.append({
            "frame": j,
            "affine_px": a.round(5).tolist(),
            "displacement_px": {k: (a @ np.array([x, y, 1.0]) - np.array([x, y])).round(3).tolist() for k, (x, y) in points.items()},
            "flow_mean_px": round(float(mag.mean()), 3),
            "flow_max_px": round(float(mag.max()), 3),
            "local_mean_px": round(float(video.motion.local_mean[j]), 3),
            "local_max_px": round(float(video.motion.local_max[j]), 3),
        })
    return {
        "convention": "backward: frame pixel (x, y) shows the middle frame's content at affine_px @ (x, y, 1); displacement = that point minus (x, y)",
        "size": [w, h],
        "middle_frame": n // 2,
        "frames": frames,
    }


def flow_to_colour(flow: np.ndarray, max_mag: float) -> np.ndarray:
    """(2, H, W) -> HxWx3 float: hue = direction, brightness = magnitude / max_mag."""
    from matplotlib.colors import hsv_to_rgb

    ang = (np.arctan2(flow[1], flow[0]) + np.pi) / (2 * np.pi)
    mag = np.clip(np.hypot(flow[0], flow[1]) / max(max_mag, 1e-6), 0, 1)
    return hsv_to_rgb(np.stack([ang, np.ones_like(ang), mag], -1))


def write_motion_png(path: Path, video: RestoredVideo) -> None:
    """One panel per frame: the flow in colour with arrows of the global (affine) motion, and a
    colour wheel saying which colour is which direction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flow = video.motion.flow
    n, _, h, w = flow.shape
    step = max(1, int(max(h, w) / 64))
    small = flow[:, :, ::step, ::step]
    max_mag = max(float(np.hypot(small[:, 0], small[:, 1]).max()), 0.5)
    fig, axes = plt.subplots(1, n + 1, figsize=(2.2 * (n + 1), 2.2 * h / w + 0.6), squeeze=False)
    gy, gx = np.mgrid[0 : h : max(1, h // 6), 0 : w : max(1, w // 8)].astype(float)
    for j in range(n):
        ax = axes[0, j]
        ax.imshow(flow_to_colour(small[j], max_mag), extent=(0, w, h, 0))
        a = video.motion.affines[j]
        dx = a[0, 0] * gx + a[0, 1] * gy + a[0, 2] - gx
        dy = a[1, 0] * gx + a[1, 1] * gy + a[1, 2] - gy
        ax.quiver(gx, gy, -dx, -dy, color="white", angles="xy", scale_units="xy", scale=max_mag / (w / 16), width=0.006)
        ax.set_title(f"frame {j}" + (" (middle)" if j == n // 2 else ""), fontsize=8)
        ax.axis("off")
    yy, xx = np.mgrid[-1:1:101j, -1:1:101j]
    wheel = flow_to_colour(np.stack([xx, yy]), 1.0)
    wheel[np.hypot(xx, yy) > 1] = 1.0
    axes[0, n].imshow(wheel)
    axes[0, n].set_title(f"direction; full = {max_mag:.1f} px", fontsize=8)
    axes[0, n].axis("off")
    fig.suptitle("motion of each frame's content relative to the middle frame (arrows: global affine)", fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def write_outputs(video: RestoredVideo, out_dir: str | Path, name: str, formats: tuple[str, ...] = FORMATS, fps: float = 8.0,
                  pingpong: bool = False, frames_only: bool = False) -> Path:
    """Write DIR/NAME/{frame_*.png, NAME.gif, NAME.mp4, sheet.png, motion.json, motion.png} atomically."""
    out_dir = Path(out_dir)
    final = out_dir / name
    tmp = out_dir / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        frames8 = video.frames_uint8()
        for j, f in enumerate(frames8):
            write_png(tmp / f"frame_{j}.png", f)
        if not frames_only:
            if "gif" in formats:
                write_gif(tmp / f"{name}.gif", frames8, fps, pingpong)
            if "mp4" in formats:
                write_mp4(tmp / f"{name}.mp4", frames8, fps, pingpong)
            write_png(tmp / "sheet.png", sheet(video.blur, video.frames))
            (tmp / "motion.json").write_text(json.dumps(motion_summary(video), indent=1))
            write_motion_png(tmp / "motion.png", video)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
