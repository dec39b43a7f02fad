"""Restore the frames hidden in one blurred photo, at any size: the Python API of the main job.

    from blur2video import Restorer
    restorer = Restorer.from_pretrained()          # the bundled model
    video = restorer.restore("photo.jpg")          # a path, a PIL image or an HxWx3 array
    video.frames            # (N, H, W, 3) float32 in [0, 1]; video.frames_uint8() for 8-bit
    video.motion.affines    # (N, 2, 3): frame pixel (x, y, 1) -> where it sits in the middle frame
    video.motion.flow       # (N, 2, H, W): the same as a per-pixel backward flow, with local motion

Images above ``max_pixels`` are cut into overlapping tiles that share the global motion of the
whole photo, put in one time order and blended with linear ramps across the overlaps, so memory
stays bounded (a 12-megapixel photo within 4 GB) without seams (tiling.py says how).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import engines
from .checkpoints import load_model
from .errors import Blur2VideoError
from .fileio import array_to_float_rgb, read_image
from .frame_order import matches_reversed
from .geometry.warp import affine3, affine_to_flow, conjugate, pixels_to_normalised
from .model.network import Blur2Video
from .motion_fit import fit_affines, fit_blur_motion
from .outputs import Motion, RestoredVideo
from .runtime import keep_freed_memory, pick_device
from .tiling import CONTEXT, blend_weight, tile_overlap, tile_starts, warp_reach

MIN_SIDE = 32
BUNDLED = "demo.safetensors"


def bundled_example() -> Path:
    """A blurred photo shipped in the package (made by our rotation-blur synthesizer from a
    photo the bundled model never saw in training)."""
    return Path(str(resources.files("blur2video") / "examples" / "blurred.png"))


def expand_inputs(patterns: list[str], notes: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Files, folders (their images, sorted) and globs -> paths, plus one error line per pattern
    that names nothing (the other inputs are still processed). Files a folder holds that are not
    images by their suffix are skipped with a note, so a missing photo is never a silent surprise
    (hidden files, such as our own temporary folders' names, are not mentioned)."""
    import glob

    from .fileio import IMAGE_SUFFIXES

    paths: list[Path] = []
    errors: list[str] = []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if q.is_file())
            found = [q for q in files if q.suffix.lower() in IMAGE_SUFFIXES]
            skipped = [q.name for q in files if q.suffix.lower() not in IMAGE_SUFFIXES and not q.name.startswith(".")]
            folders = sorted(q.name for q in p.iterdir() if q.is_dir() and not q.name.startswith("."))
            inside = f"its subfolders are not searched ({_shown(folders)}): give them too" if folders else ""
            if not found:
                hint = f"; {inside}" if inside else ""
                errors.append(f"{p}: the folder has no images (.png, .jpg, .tif, .gif, ...){hint}")
            elif notes is not None:
                if skipped:
                    notes.append(
                        f"{p}: skipped {len(skipped)} file(s) that are not images by their suffix ({_shown(skipped)})"
                    )
                if folders:
                    notes.append(f"{p}: {inside}")
            paths += found
        elif p.exists() or not any(c in pattern for c in "*?["):
            paths.append(p)  # a missing file is reported when it is read, in input order
        else:
            found = sorted(Path(q) for q in glob.glob(pattern) if Path(q).is_file())
            if not found:
                errors.append(f"{pattern}: the pattern matches no file")
            paths += found
    return paths, errors


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def bundled_weights() -> Path:
    """Path of the pretrained model shipped in the package."""
    return Path(str(resources.files("blur2video") / "weights" / BUNDLED))


def load_input(image: str | os.PathLike | Image.Image | np.ndarray, notes: list[str] | None = None) -> np.ndarray:
    """Any supported input as float32 HxWx3; an alpha channel, or the frames after the first of
    an animation, are dropped with a note."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        arr = read_image(path, notes)
        name = str(path)
    elif isinstance(image, Image.Image):
        if "A" in image.getbands() and notes is not None:
            notes.append("alpha channel dropped (the model restores RGB)")
        arr, name = array_to_float_rgb(np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))), "image"
    else:
        arr, name = array_to_float_rgb(np.asarray(image)), "array"
    h, w = arr.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise Blur2VideoError(f"{name}: {w}x{h} is too small; the minimum is {MIN_SIDE}x{MIN_SIDE} pixels")
    return arr


class Restorer:
    """A loaded model ready to restore photos of any size on a chosen device, run by the
    ``backend`` engine (blur2video.engines: ``auto``, ``torch``, ``onnxruntime``, ``openvino``)."""

    def __init__(self, model: torch.nn.Module, meta: dict, device: torch.device, backend: str = "auto") -> None:
        keep_freed_memory()  # restore moves large tensors (see blur2video.runtime)
        self.model, self.meta, self.device = model, meta, device
        self.frames = model.config.frames
        self.backend = engines.resolve(backend, model, device)
        self.network = engines.build(self.backend, model, device)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "auto", backend: str = "auto") -> Restorer:
        dev = pick_device(device)
        model, meta = load_model(path, dev)
        return cls(model, meta, dev, backend)

    @classmethod
    def from_pretrained(cls, device: str = "auto", backend: str = "auto") -> Restorer:
        """The bundled model (see docs/model-card.md)."""
        path = bundled_weights()
        if not path.is_file():
            raise Blur2VideoError(
                f"{path}: the bundled model is missing from this installation; "
                "reinstall blur2video or pass --checkpoint"
            )
        return cls.from_checkpoint(path, device, backend)

    @torch.inference_mode()
    def _run(self, blur: torch.Tensor, motion: tuple | None = None, tile: bool = False) -> tuple[torch.Tensor, ...]:
        """(1, 3, h, w) -> frames (N, 3, h, w), total flow (N, 2, h, w), local flow size (N, h, w),
        the confidence map (N, h, w) or None.
        ``motion``: (affines, image_affines) to impose instead of estimating them; ``tile``: a tile
        of a photo whose middle frame and reblur fallback are made once for the whole photo
        (Blur2Video.deblur_middle, Blur2Video.reblur_trust), so the network's own middle frame
        rather than its kernel-bank head's, and no fallback."""
        given = [] if motion is None else [None if m is None else m.to(self.device) for m in motion]
        out = self.network(blur.to(self.device), *given, **({"bank": False, "fallback": False} if tile else {}))
        h, w = blur.shape[-2:]
        frames = out.frames[0].float().clamp(0, 1)
        theta = out.image_affines[0, :, -1] if out.image_affines is not None else out.affines[0, :, 0]
        flow = affine_to_flow(theta.float(), h, w)
        local = torch.zeros_like(flow)
        if out.flows:
            finest = out.flows[0][0].float()  # (N, 2, h/2, w/2) in pixels of that level
            local = 2.0 * F.interpolate(finest, scale_factor=2, mode="bilinear", align_corners=False)[..., :h, :w]
            local = F.pad(local, (0, w - local.shape[-1], 0, h - local.shape[-2]), mode="replicate")
        confidence = None if out.confidence is None else out.confidence[0].float().cpu()
        return (
            frames.cpu(),
            (flow + local).cpu(),
            torch.hypot(local[:, 0], local[:, 1]).cpu(),
            confidence,
        )  # hypot: norm(dim=1) took 0.45 s at 720p

    def restore(
        self,
        image,
        max_pixels: int = 1280 * 736,
        overlap: int = 96,
        notes: list[str] | None = None,
        motion_pixels: int | None = None,
        on_tile: Callable[[int, int], None] | None = None,
        fit_motion: bool = True,
    ) -> RestoredVideo:
        """Restore the N frames and the motion of one blurred image (path, PIL image or array).

        Above ``max_pixels`` the photo is restored in tiles overlapping by at least ``overlap``
        pixels (more where the motion is wider than a quarter of it) that share the global motion
        estimated on the whole photo scaled to ``motion_pixels`` (default ``max_pixels``);
        ``on_tile(done, total)`` is called before the first tile and after each (a large photo
        takes minutes: the command line shows its progress). ``fit_motion``: also fit the global
        motion to the blur itself (``motion.blur_fit``, blur2video.motion_fit; about 0.3 s), for
        callers that report the motion."""
        arr = load_input(image, notes)
        h, w = arr.shape[:2]
        blur = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)
        if h * w <= max_pixels:
            frames, flow, local, confidence = self._run(blur)
            local_mean, local_max = local.mean(dim=(1, 2)), local.amax(dim=(1, 2))
        else:
            frames, flow, local_mean, local_max, confidence = self._run_tiled(
                blur, max_pixels, overlap, motion_pixels or max_pixels, on_tile
            )
        affines = fit_affines(flow)
        fitted = None
        if fit_motion and frames.shape[0] > 1:
            fitted = fit_blur_motion(blur[0], frames[frames.shape[0] // 2], affines)
        motion = Motion(
            affines=affines,
            flow=flow.numpy(),
            local_mean=local_mean.numpy(),
            local_max=local_max.numpy(),
            confidence=None if confidence is None else confidence.mean(dim=(1, 2)).numpy(),
            blur_fit=fitted,
        )
        return RestoredVideo(frames=frames.permute(0, 2, 3, 1).numpy(), motion=motion, blur=arr)

    @torch.inference_mode()
    def _global_motion(
        self, blur: torch.Tensor, max_pixels: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor] | None:
        """The global motion of the whole photo, estimated on a copy scaled to fit ``max_pixels``:
        (affines, image_affines, Q) with Q (3, 3) mapping that copy's normalised coordinates to
        full-size pixels. None for models without global motion (the Jin baseline)."""
        if not isinstance(self.model, Blur2Video):
            return None
        h, w = blur.shape[-2:]
        s = min(1.0, math.sqrt(max_pixels / (h * w)))
        small = (
            blur
            if s == 1.0
            else F.interpolate(
                blur, scale_factor=s, mode="bilinear", antialias=True, align_corners=False, recompute_scale_factor=True
            )
        )
        out = self.network(small.to(self.device))
        sh, sw = small.shape[-2:]
        sx, sy = sw / w, sh / h
        full_to_small = affine3(sx, sy, 0.5 * sx - 0.5, 0.5 * sy - 0.5)
        q = torch.linalg.inv(full_to_small) @ torch.linalg.inv(pixels_to_normalised(*_padded(sh, sw)))
        image_affines = None if out.image_affines is None else out.image_affines.cpu().double()
        return out.affines.cpu().double(), image_affines, q

    def _run_tiled(
        self,
        blur: torch.Tensor,
        max_pixels: int,
        overlap: int,
        motion_pixels: int,
        on_tile: Callable[[int, int], None] | None = None,
    ):
        h, w = blur.shape[-2:]
        n = self.frames
        motion = self._global_motion(blur, motion_pixels)
        # the band at a tile's inner edges where its warps read from outside it (tiling.py)
        margin = overlap // 4 if motion is None else warp_reach(_pixel_affines(motion), h, w) + CONTEXT
        overlap = tile_overlap(overlap, margin)
        tile = max(2 * overlap + 32, int(math.sqrt(max_pixels)) // 32 * 32)
        th, tw = min(tile, h), min(tile, w)
        # the tiles return the network's own middle frame and no fallback; both are made below, on the whole photo
        whole = isinstance(self.model, Blur2Video)
        whole_middle = whole and self.model.config.kernel_bank
        acc_f, acc_flow = torch.zeros(n, 3, h, w), torch.zeros(n, 2, h, w)
        acc_conf = None
        weight = torch.zeros(1, 1, h, w)
        local_sum, local_max, tiles = torch.zeros(n), torch.zeros(n), 0
        count = len(tile_starts(h, th, overlap)) * len(tile_starts(w, tw, overlap))
        if on_tile is not None:
            on_tile(0, count)
        for y in tile_starts(h, th, overlap):
            for x in tile_starts(w, tw, overlap):
                tile_motion = None
                if motion is not None:
                    # C maps global normalised coordinates to this tile's: theta_tile = C theta C^-1
                    c = pixels_to_normalised(*_padded(th, tw)) @ affine3(1.0, 1.0, -x, -y) @ motion[2]
                    tile_motion = tuple(None if m is None else conjugate(m, c).float() for m in motion[:2])
                out = self._run(blur[..., y : y + th, x : x + tw], tile_motion, whole)
                wy = blend_weight(th, overlap, margin, y > 0, y + th < h)
                wx = blend_weight(tw, overlap, margin, x > 0, x + tw < w)
                wt = (wy[:, None] * wx[None, :])[None, None]
                seen = weight[..., y : y + th, x : x + tw]
                if tiles and matches_reversed(
                    out[0], acc_f[..., y : y + th, x : x + tw] / seen.clamp(min=1e-12), (seen * wt)[0, 0] > 1e-3
                ):  # this tile took the other time order than the tiles before it
                    out = tuple(None if t is None else t.flip(0) for t in out)
                frames, flow, local, confidence = out
                acc_f[..., y : y + th, x : x + tw] += frames * wt
                acc_flow[..., y : y + th, x : x + tw] += flow * wt
                weight[..., y : y + th, x : x + tw] += wt
                if confidence is not None:
                    acc_conf = torch.zeros(n, h, w) if acc_conf is None else acc_conf
                    acc_conf[:, y : y + th, x : x + tw] += confidence * wt[0]
                local_sum += local.mean(dim=(1, 2))
                local_max = torch.maximum(local_max, local.amax(dim=(1, 2)))
                tiles += 1
                if on_tile is not None:
                    on_tile(tiles, count)
        acc_f.div_(weight)
        if whole_middle:  # read from the whole photo at full size: blur lengths are in its pixels
            with torch.inference_mode():
                middle = self.model.deblur_middle(blur.to(self.device), acc_f[None, n // 2].to(self.device))
                acc_f[n // 2] = middle[0].float().cpu().clamp(0, 1)
        confidence = None if acc_conf is None else acc_conf.div_(weight[0])
        if whole:
            with torch.inference_mode():
                trust = self.model.reblur_trust(blur.to(self.device), acc_f[None].to(self.device))
            if trust is not None:
                trust = trust[0].float().cpu()
                acc_f = blur[0] + trust[:, None] * (acc_f - blur[0])
                confidence = trust if confidence is None else confidence * trust
        return acc_f, acc_flow.div_(weight), local_sum / tiles, local_max, confidence


def _pixel_affines(motion: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]) -> torch.Tensor:
    """The whole photo's global motion (``Restorer._global_motion``) as pixel affines (N, 2, 3):
    the full-scale image affine, or without an ITN the finest feature affine."""
    affines, image_affines, q = motion
    theta = image_affines[0, :, -1] if image_affines is not None else affines[0, :, 0]
    return conjugate(theta, q)


def _padded(h: int, w: int) -> tuple[int, int]:
    """The network pads inputs to multiples of 32; its affines are normalised to the padded size."""
    return math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
