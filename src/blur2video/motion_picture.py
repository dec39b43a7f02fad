"""``motion.png``: one panel per frame, the flow in colour (hue = direction, brightness = size)
with arrows of the global (affine) motion, and a colour wheel saying which colour is which
direction. Drawn with numpy and Pillow: matplotlib spent 0.3-0.5 s of figure layout on every
restored photo and every page request, for eight image panels and some arrows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PANEL = 200  # px: the width of a frame's panel (and of the wheel)
GAP = 16  # px between panels and around the picture
TITLE = 14  # px: the height of a title line
ARROWS = (8, 6)  # columns, rows of the arrow grid


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """(..., 3) hue, saturation, value in 0-1 -> (..., 3) RGB in 0-1 (the HSV hexcone)."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    k = (np.array([5.0, 3.0, 1.0]) + h[..., None] * 6) % 6
    return v[..., None] - (v * s)[..., None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def flow_to_colour(flow: np.ndarray, max_mag: float) -> np.ndarray:
    """(2, H, W) -> HxWx3 float: hue = direction, brightness = magnitude / max_mag."""
    ang = (np.arctan2(flow[1], flow[0]) + np.pi) / (2 * np.pi)
    mag = np.clip(np.hypot(flow[0], flow[1]) / max(max_mag, 1e-6), 0, 1)
    return hsv_to_rgb(np.stack([ang, np.ones_like(ang), mag], -1))


def colour_wheel(size: int) -> np.ndarray:
    """size x size x 3 float: the colour of every direction at full size, white outside the disc."""
    yy, xx = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    wheel = flow_to_colour(np.stack([xx, yy]), 1.0)
    wheel[np.hypot(xx, yy) > 1] = 1.0
    return wheel


def _image(rgb: np.ndarray, width: int, height: int) -> Image.Image:
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)).resize((width, height), Image.NEAREST)


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[float, float], vec: tuple[float, float]) -> None:
    """A white arrow from ``start`` along ``vec`` (panel pixels), its head a quarter of its length."""
    length = math.hypot(*vec)
    if length < 0.5:
        return
    end = (start[0] + vec[0], start[1] + vec[1])
    draw.line([start, end], fill="white", width=1)
    ux, uy = vec[0] / length, vec[1] / length
    head = max(2.0, min(5.0, length / 4))
    for side in (1, -1):
        draw.line([end, (end[0] - head * (ux - side * 0.5 * uy), end[1] - head * (uy + side * 0.5 * ux))], fill="white")


def write_motion_png(path: Path, flow: np.ndarray, affines: np.ndarray) -> None:
    """Draw the (N, 2, H, W) backward flows and (N, 2, 3) pixel affines of one restored photo
    (the motion of each frame's content relative to the middle frame) to ``path``."""
    n, _, h, w = flow.shape
    step = max(1, int(max(h, w) / 64))
    small = flow[:, :, ::step, ::step]
    max_mag = max(float(np.hypot(small[:, 0], small[:, 1]).max()), 0.5)
    ph = max(8, round(PANEL * h / w))
    font = ImageFont.load_default(size=11)
    width = GAP + (n + 1) * (PANEL + GAP)
    top = GAP + 2 * TITLE
    canvas = Image.new("RGB", (width, top + max(ph, PANEL) + GAP), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (width / 2, GAP / 2),
        "motion of each frame's content relative to the middle frame (arrows: global affine)",
        fill="black",
        font=font,
        anchor="mt",
    )
    gx, gy = np.meshgrid((np.arange(ARROWS[0]) + 0.5) * w / ARROWS[0], (np.arange(ARROWS[1]) + 0.5) * h / ARROWS[1])
    to_panel = PANEL / w
    arrow_scale = PANEL / (16 * max_mag)  # an arrow of the largest flow is a sixteenth of the panel
    for j in range(n):
        x0 = GAP + j * (PANEL + GAP)
        canvas.paste(_image(flow_to_colour(small[j], max_mag), PANEL, ph), (x0, top))
        a = affines[j]
        dx = a[0, 0] * gx + a[0, 1] * gy + a[0, 2] - gx
        dy = a[1, 0] * gx + a[1, 1] * gy + a[1, 2] - gy
        for px, py, vx, vy in zip(gx.flat, gy.flat, dx.flat, dy.flat, strict=True):
            _arrow(draw, (x0 + px * to_panel, top + py * to_panel), (-vx * arrow_scale, -vy * arrow_scale))
        title = f"frame {j}" + (" (middle)" if j == n // 2 else "")
        draw.text((x0 + PANEL / 2, top - 3), title, fill="black", font=font, anchor="md")
    x0 = GAP + n * (PANEL + GAP)
    canvas.paste(_image(colour_wheel(PANEL), PANEL, PANEL), (x0, top))
    draw.text((x0 + PANEL / 2, top - 3), f"direction; full = {max_mag:.1f} px", fill="black", font=font, anchor="md")
    canvas.save(path, compress_level=3)
