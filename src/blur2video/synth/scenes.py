"""Procedural dynamic blur with known motion: textured objects moving over a moving background.

A background texture moves with a random camera motion and K foreground patches (cut from real
photos, soft elliptical alpha) move with their own random affine motions, in a random depth
order, so they occlude each other and the background. Every layer's motion is a pixel-space
backward map ``M(t)`` (output pixel -> texture pixel) with
``M(t) = C_tex @ R(rot * t) S(scale ** t) @ T(-shift * t) @ C_out^-1 @ P0``, rendered at
``n_renders`` sub-frames (about one per pixel of the largest displacement, of the form
(N-1)*m+1) and averaged into the blur. ``meta`` keeps every layer's parameters; the flows of the
first and last frames (middle frame -> those frames, backward, in pixels, the convention of
:mod:`blur2video.geometry.warp`) are written beside the sample as ``flow_first.npy`` and
``flow_last.npy``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..conventions import check_frame_count
from ..errors import Blur2VideoError
from ..settings import setting
from .accumulate import accumulate
from .sources import SourceRef


@dataclass(frozen=True)
class SceneSettings:
    frames: int = setting(7, "N target frames (odd, >= 3)")
    size: int = setting(256, "square output size, pixels (>= 32)")
    objects: int = setting(3, "foreground objects per scene")
    max_camera_shift: float = setting(8.0, "the background's motion over the exposure, pixels")
    max_object_shift: float = setting(16.0, "an object's motion over the exposure, pixels")
    max_rotation_deg: float = setting(3.0, "the background's rotation, degrees (objects: 4x)")
    max_scale: float = setting(1.05, "the largest zoom over the exposure")
    renders_per_pixel: float = setting(1.0, "sub-frames rendered per pixel of the largest motion")
    accumulate: str = setting("srgb", '"srgb": average the stored values, "linear": linear light')
    seed: int = setting(0, "the synthesizer's seed")

    def validate(self) -> None:
        check_frame_count(self.frames)
        if self.size < 32 or self.objects < 0:
            raise Blur2VideoError("--size must be >= 32 and --objects >= 0")

    def as_dict(self) -> dict:
        return asdict(self)


def _affine(rot_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    c, s = math.cos(math.radians(rot_deg)) * scale, math.sin(math.radians(rot_deg)) * scale
    return np.array([[c, -s, tx], [s, c, ty], [0, 0, 1.0]])


@dataclass
class Layer:
    """A texture (4, h, w) RGBA and its motion: at time t in [0, 1] output pixel p shows texture
    pixel ``start @ motion(t) @ p`` where motion(t) rotates/scales about ``centre`` and shifts."""

    texture: torch.Tensor
    start: np.ndarray  # (3, 3) output pixel -> texture pixel at t = 0
    centre: tuple[float, float]
    shift: tuple[float, float]
    rot_deg: float
    log_scale: float

    def matrix(self, t: float) -> np.ndarray:
        """Backward map output pixel -> texture pixel at time t."""
        cx, cy = self.centre
        about = (
            _affine(0, 1, cx, cy)
            @ np.linalg.inv(_affine(self.rot_deg * t, math.exp(self.log_scale * t), 0, 0))
            @ _affine(0, 1, -cx, -cy)
        )
        return self.start @ about @ _affine(0, 1, -self.shift[0] * t, -self.shift[1] * t)

    def meta(self, name: str) -> dict:
        return {
            "source": name,
            "texture_size": list(self.texture.shape[-2:][::-1]),
            "start_px": self.start.round(6).tolist(),
            "centre_px": list(self.centre),
            "shift_px": list(self.shift),
            "rotation_deg": self.rot_deg,
            "log_scale": self.log_scale,
        }


def _render(layer: Layer, times: np.ndarray, size: int) -> torch.Tensor:
    """(T, 4, size, size): the layer at every time, one grid_sample call, zero outside."""
    th, tw = layer.texture.shape[-2:]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    grids = []
    for t in times:
        u, v, _ = layer.matrix(t) @ pts
        grids.append(np.stack([(2 * u + 1) / tw - 1, (2 * v + 1) / th - 1], -1).reshape(size, size, 2))
    grid = torch.from_numpy(np.stack(grids)).float()
    tex = layer.texture.unsqueeze(0).expand(len(times), -1, -1, -1)
    return F.grid_sample(tex, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def scene_flow(layers: list[Layer], alphas: torch.Tensor, t_from: float, t_mid: float, size: int) -> np.ndarray:
    """(2, H, W) backward flow: pixel p of the frame at ``t_from`` shows the middle frame's content
    at p + flow(p), following the top-most layer visible at p (alpha > 0.5) in that frame."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    flow = np.zeros((2, size * size))
    for layer, alpha in zip(layers, alphas, strict=False):  # bottom to top: the top-most covering layer wins
        q = np.linalg.inv(layer.matrix(t_mid)) @ layer.matrix(t_from) @ pts
        cover = alpha.numpy().ravel() > 0.5
        flow[:, cover] = (q[:2] - pts[:2])[:, cover]
    return flow.reshape(2, size, size).astype(np.float32)


class SceneJob:
    """Picklable synthesis job: sample ``i`` depends only on (seed, i) and the texture photos."""

    kind = "scenes"

    def __init__(self, sources: list[SourceRef], settings: SceneSettings) -> None:
        settings.validate()
        if not sources:
            raise Blur2VideoError("no texture images")
        self.sources, self.scene = sources, settings
        self._photos: dict[int, torch.Tensor] = {}

    def settings(self) -> dict:
        return {**self.scene.as_dict(), "textures": [s.name for s in self.sources]}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_photos": {}}

    def _photo(self, i: int) -> torch.Tensor:
        if i not in self._photos:
            arr = self.sources[i].load()
            if min(arr.shape[:2]) < 64:
                raise Blur2VideoError(
                    f"{self.sources[i].name}: {arr.shape[1]}x{arr.shape[0]} is too small for a texture (64 px at least)"
                )
            self._photos[i] = torch.from_numpy(arr).permute(2, 0, 1).contiguous()
        return self._photos[i]

    def _texture(self, rng: np.random.Generator, side: int, soft: bool) -> tuple[torch.Tensor, str, list[int]]:
        """A random crop (RGBA) of a random photo, rescaled to about ``side`` pixels; soft
        elliptical alpha for objects, opaque for the background."""
        i = int(rng.integers(len(self.sources)))
        photo = self._photo(i)
        h, w = photo.shape[-2:]
        crop = int(min(h, w, max(16, side * rng.uniform(0.7, 1.3))))
        y, x = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
        rgb = photo[:, y : y + crop, x : x + crop]
        if crop != side:
            rgb = F.interpolate(rgb[None], size=(side, side), mode="bilinear", antialias=True, align_corners=False)[
                0
            ].clamp(0, 1)
        alpha = torch.ones(1, side, side)
        if soft:
            yy, xx = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij")
            ax, ay = rng.uniform(0.6, 1.0, 2)
            r = torch.sqrt((xx / ax) ** 2 + (yy / ay) ** 2)
            alpha = ((1.0 - r) / 0.15).clamp(0, 1).unsqueeze(0)  # soft edge over 15% of the radius
        return torch.cat([rgb, alpha]), self.sources[i].name, [x, y, crop, crop]

    def make(self, index: int) -> tuple:
        s = self.scene
        rng = np.random.default_rng([s.seed, index])
        size = s.size
        half = size / 2
        layers, names = [], []
        bg_side = int(size * 1.5)
        tex, name, crop = self._texture(rng, bg_side, soft=False)
        start = _affine(0, 1, bg_side / 2, bg_side / 2) @ _affine(0, 1, -half, -half)
        layers.append(
            Layer(
                tex,
                start,
                (half, half),
                tuple(rng.uniform(-1, 1, 2) * s.max_camera_shift),
                float(rng.uniform(-1, 1) * s.max_rotation_deg),
                float(rng.uniform(-1, 1) * math.log(s.max_scale)),
            )
        )
        names.append({"layer": "background", "crop": crop, "name": name})
        for k in range(s.objects):
            side = int(size * rng.uniform(0.25, 0.5))
            tex, name, crop = self._texture(rng, side, soft=True)
            cx, cy = rng.uniform(0.15, 0.85, 2) * size
            start = _affine(0, 1, side / 2, side / 2) @ _affine(0, 1, -cx, -cy)
            layers.append(
                Layer(
                    tex,
                    start,
                    (float(cx), float(cy)),
                    tuple(rng.uniform(-1, 1, 2) * s.max_object_shift),
                    float(rng.uniform(-1, 1) * 4 * s.max_rotation_deg),
                    float(rng.uniform(-1, 1) * math.log(s.max_scale)),
                )
            )
            names.append({"layer": f"object_{k}", "crop": crop, "name": name})
        disp = max(
            math.hypot(*layer.shift) + abs(math.radians(layer.rot_deg)) * size + abs(layer.log_scale) * size
            for layer in layers
        )
        m = max(1, math.ceil(s.renders_per_pixel * disp / (s.frames - 1)))
        count = (s.frames - 1) * m + 1
        times = np.linspace(0.0, 1.0, count)
        renders = torch.zeros(count, 3, size, size)
        alphas = []
        for layer in layers:
            rgba = _render(layer, times, size)
            a = rgba[:, 3:4]
            renders = renders * (1 - a) + rgba[:, :3] * a
            alphas.append(a)
        targets = renders[::m].contiguous()
        first, last = [a[0, 0] for a in alphas], [a[-1, 0] for a in alphas]  # every layer's alpha in the end frames
        extras = {
            "flow_first.npy": scene_flow(layers, first, 0.0, 0.5, size),
            "flow_last.npy": scene_flow(layers, last, 1.0, 0.5, size),
        }
        meta = {
            "kind": "scenes",
            "n_renders": count,
            "render_step": m,
            "size": size,
            "layers": [{**info, **layer.meta(info["name"])} for info, layer in zip(names, layers, strict=False)],
            "depth_order": "bottom to top",
            "flows": {
                "first": "flow_first.npy",
                "last": "flow_last.npy",
                "convention": "backward, pixels: frame pixel p shows the middle frame's content at p + flow(p)",
            },
        }
        return accumulate(renders, s.accumulate), targets, meta, extras
