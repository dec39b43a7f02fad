"""Camera-rotation blur (paper section 3): a virtual camera turns while the shutter is open.

One sample: a random initial view, a random shake rotation with Euler angles uniform in
[-max, max] per axis, ``n_renders = (N - 1) * m + 1`` orientations by Slerp with ``m`` growing
linearly with the rotation angle, the blur as the mean of all renders and the N targets as
evenly spaced renders (the first and last being the initial and final views).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

from ..conventions import check_frame_count
from ..errors import Blur2VideoError
from ..geometry.camera import PinholeCamera, check_fov
from ..geometry.equirect import EquirectImage
from ..geometry.homography import render_photo
from ..geometry.rotations import interpolate_orientations, random_motion, rotation_magnitude_deg, view_orientation
from ..geometry.sampling import MAX_SIDE, check_side, require_exact_remap
from ..settings import setting
from .accumulate import ACCUMULATE_MODES, accumulate
from .sources import SourceRef, check_panorama_shape

SOURCE_KINDS = ("panorama", "photo")


def n_renders_for(angle_deg: float, frames: int, frames_per_degree: float) -> int:
    """Renders for a rotation of ``angle_deg``: about ``k * angle`` (at least N), of the form
    (N - 1) * m + 1 so the N targets fall exactly on renders."""
    steps = max(1, math.ceil(frames_per_degree * angle_deg / (frames - 1)))
    return (frames - 1) * steps + 1


@dataclass(frozen=True)
class RotationSettings:
    """Everything that defines a rotation-blur dataset (and is stored in dataset.json)."""

    source_kind: str = setting("panorama", '"panorama" (equirectangular 2:1) or "photo" (ordinary photos)')
    frames: int = setting(7, "N target frames (odd, >= 3)")
    size: int = setting(256, "square output size, pixels (>= 16)")
    fov_deg: float = setting(60.0, "horizontal field of view, degrees: the virtual camera's (panorama) or the photo's")
    max_angle_deg: float = setting(5.0, "Euler angles drawn uniformly in [-max, max] degrees per axis (up to 45)")
    frames_per_degree: float = setting(8.0, "renders per degree of rotation")
    accumulate: str = setting("srgb", '"srgb": average the stored values (the paper\'s), "linear": linear light')
    max_pitch_deg: float = setting(30.0, "panoramas: the first view looks at most this far up or down, degrees")
    seed: int = setting(0, "the synthesizer's seed")

    def validate(self) -> None:
        """Raise Blur2VideoError for values that cannot make a dataset."""
        check_frame_count(self.frames)
        check_fov(self.fov_deg)
        if self.source_kind not in SOURCE_KINDS:
            raise Blur2VideoError(f"--kind {self.source_kind}: choose one of {', '.join(SOURCE_KINDS)}")
        if self.accumulate not in ACCUMULATE_MODES:
            raise Blur2VideoError(f"--accumulate {self.accumulate}: choose one of {', '.join(ACCUMULATE_MODES)}")
        if not 16 <= self.size <= MAX_SIDE:
            raise Blur2VideoError(f"--size {self.size}: images must be 16 to {MAX_SIDE} pixels")
        if not 0.0 < self.max_angle_deg <= 45.0:
            raise Blur2VideoError(f"--max-angle {self.max_angle_deg}: give a rotation in (0, 45] degrees")
        if self.frames_per_degree <= 0:
            raise Blur2VideoError(f"--frames-per-degree {self.frames_per_degree}: must be positive")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Sample:
    """One synthesised sample: blur (C, H, W), the N target frames (N, C, H, W), and what is known.

    The arrays are float32 views of pixel-interleaved (H, W, C) memory, as the renderer makes
    them: the writer's PNGs take them without a copy."""

    blur: np.ndarray
    frames: np.ndarray
    meta: dict


class LoadedSource:
    """A source image prepared once for rendering many samples from it."""

    def __init__(self, ref: SourceRef, settings: RotationSettings) -> None:
        self.ref = ref
        image = ref.load()
        check_render_size(ref.name, image.shape[1], image.shape[0], settings)
        if settings.source_kind == "panorama":
            image = _match_panorama_resolution(image, PinholeCamera(settings.size, settings.size, settings.fov_deg))
            self.pano = EquirectImage(image)
        else:
            h, w = image.shape[:2]
            self.source_camera = PinholeCamera(w, h, settings.fov_deg)
            self.photo = np.ascontiguousarray(image, dtype=np.float32)


def check_render_size(name: str, width: int, height: int, settings: RotationSettings) -> None:
    """One line naming a source the renderer cannot take: a side over its MAX_SIDE px, once a
    panorama is downscaled to the view's resolution and padded by a wrapped column each side."""
    if settings.source_kind == "panorama":
        width, height = _panorama_size(width, height, PinholeCamera(settings.size, settings.size, settings.fov_deg))
        check_side(name, width + 2, height, "downscale it, or lower --size or raise --fov")
    else:
        check_side(name, width, height, "downscale it (and keep --fov its field of view)")


def _panorama_size(width: int, height: int, camera: PinholeCamera) -> tuple[int, int]:
    """The (width, height) a panorama is rendered from: box-downscaled where its angular resolution
    exceeds the view's, so renders are not aliased (bilinear sampling of a much finer image skips
    pixels)."""
    target = int(round(2.0 * math.pi * camera.focal))
    return (width, height) if width <= target else (target, max(1, round(height * target / width)))


def _match_panorama_resolution(image: np.ndarray, camera: PinholeCamera) -> np.ndarray:
    """The panorama at :func:`_panorama_size`."""
    height, width = image.shape[:2]
    size = _panorama_size(width, height, camera)
    if size == (width, height):
        return image
    pil = Image.fromarray(np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8))
    return np.asarray(pil.resize(size, Image.BOX), dtype=np.float32) / 255.0


def _random_view(rng: np.random.Generator, settings: RotationSettings) -> Rotation:
    """A random initial orientation: any heading, pitch within +-max_pitch (avoids the poles,
    where panoramas are most distorted), no roll."""
    yaw = rng.uniform(-180.0, 180.0)
    pitch = rng.uniform(-settings.max_pitch_deg, settings.max_pitch_deg)
    return view_orientation(yaw, pitch)


def _photo_view(
    rng: np.random.Generator, src: LoadedSource, camera: PinholeCamera, motion: Rotation, count: int
) -> Rotation:
    """An initial view of a photo from which every render stays inside the photo."""
    cam = src.source_camera
    corners = np.array([[0, 0], [camera.width, 0], [0, camera.height], [camera.width, camera.height]], float)
    rays = np.concatenate([(corners - [camera.width / 2, camera.height / 2]) / camera.focal, np.ones((4, 1))], 1)
    for _ in range(200):
        px = rng.uniform(0, cam.width), rng.uniform(0, cam.height)
        x, y = (px[0] - cam.width / 2) / cam.focal, (px[1] - cam.height / 2) / cam.focal
        start = view_orientation(math.degrees(math.atan(x)), -math.degrees(math.atan2(y, math.hypot(x, 1.0))))
        mats = interpolate_orientations(start, motion, count).as_matrix()  # (T, 3, 3)
        d = np.einsum("tij,kj->tki", mats, rays)
        if np.all(d[..., 2] > 0):
            uv = cam.project(d)
            if uv.min() >= 0 and np.all(uv[..., 0] <= cam.width) and np.all(uv[..., 1] <= cam.height):
                return start
    raise Blur2VideoError(
        f"{src.ref.name}: {cam.width}x{cam.height} photo is too small for --size {camera.width} "
        f"with --max-angle {rotation_magnitude_deg(motion):.1f}; lower --size or use a larger photo"
    )


def make_rotation_sample(src: LoadedSource, settings: RotationSettings, rng: np.random.Generator) -> Sample:
    """Synthesise one rotation-blur sample from ``src``."""
    motion, euler = random_motion(rng, settings.max_angle_deg)
    angle = rotation_magnitude_deg(motion)
    count = n_renders_for(angle, settings.frames, settings.frames_per_degree)
    if settings.source_kind == "panorama":
        camera = PinholeCamera(settings.size, settings.size, settings.fov_deg)
        start = _random_view(rng, settings)
        renders = src.pano.render(interpolate_orientations(start, motion, count), camera)
    else:
        camera = PinholeCamera.from_focal(settings.size, settings.size, src.source_camera.focal)
        start = _photo_view(rng, src, camera, motion, count)
        renders = render_photo(src.photo, src.source_camera, interpolate_orientations(start, motion, count), camera)
    step = (count - 1) // (settings.frames - 1)
    rotvec = motion.as_rotvec()
    yaw, pitch, roll = start.as_euler("YXZ", degrees=True)
    meta = {
        "kind": "rotation",
        "source": src.ref.name,
        "source_kind": settings.source_kind,
        "angle_deg": angle,
        "axis": (rotvec / max(np.linalg.norm(rotvec), 1e-12)).tolist(),
        "euler_deg": euler.tolist(),
        "euler_order": "XYZ (intrinsic, camera frame)",
        "fov_deg": camera.fov_deg,
        "source_fov_deg": settings.fov_deg if settings.source_kind == "photo" else None,
        "focal_px": camera.focal,
        "view": {"yaw_deg": yaw, "pitch_deg": pitch, "roll_deg": roll, "quat_xyzw": start.as_quat().tolist()},
        "n_renders": count,
        "render_step": step,
    }
    blur = accumulate(renders, settings.accumulate)  # (h, w, C)
    frames = renders[::step].copy()  # a copy: the sample must not hold every render alive
    return Sample(blur=blur.transpose(2, 0, 1), frames=frames.transpose(0, 3, 1, 2), meta=meta)


class RotationJob:
    """Picklable synthesis job: sample ``i`` depends only on (seed, i) and the sources."""

    kind = "rotation"

    def __init__(self, sources: list[SourceRef], settings: RotationSettings, force: bool = False) -> None:
        settings.validate()
        require_exact_remap()
        if not sources:
            raise Blur2VideoError("no source images")
        if settings.source_kind == "panorama":
            for ref in sources:
                check_panorama_shape(ref, force)
        self.sources = sources
        self.rotation = settings
        self._loaded: dict[int, LoadedSource] = {}

    def settings(self) -> dict:
        return {**self.rotation.as_dict(), "sources": [s.name for s in self.sources]}

    def __getstate__(self) -> dict:
        return {"sources": self.sources, "rotation": self.rotation, "_loaded": {}}

    def check_source_size(self, name: str, width: int, height: int) -> None:
        """One line for a source too large to render, before any folder is made (the runner reads
        its size from the header)."""
        check_render_size(name, width, height, self.rotation)

    def source(self, i: int) -> LoadedSource:
        if i not in self._loaded:
            self._loaded[i] = LoadedSource(self.sources[i], self.rotation)
        return self._loaded[i]

    def make(self, index: int) -> tuple:
        rng = np.random.default_rng([self.rotation.seed, index])
        sample = make_rotation_sample(self.source(int(rng.integers(len(self.sources)))), self.rotation, rng)
        return sample.blur, sample.frames, sample.meta, None
