"""The renderers against analytic projections and an independent implementation (py360convert)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation
from tests.conftest import real_panorama

from blur2video.errors import Blur2VideoError
from blur2video.geometry import (
    EquirectImage,
    PinholeCamera,
    directions_to_equirect_pixels,
    interpolate_orientations,
    render_photo,
    rotation_magnitude_deg,
    view_orientation,
)


def _dot_panorama(width: int = 2048) -> EquirectImage:
    """A black panorama with one small bright Gaussian dot at longitude 0, latitude 0."""
    h = width // 2
    yy, xx = np.mgrid[0:h, 0:width] + 0.5
    dot = np.exp(-((xx - width / 2) ** 2 + (yy - h / 2) ** 2) / (2 * 1.5**2))
    return EquirectImage(np.repeat(dot[..., None], 3, 2).astype(np.float32))


def _centroid(img: np.ndarray) -> tuple[float, float]:
    """The brightness centroid of a view (h, w, C), pixel centres at i + 0.5."""
    w = img[..., 0].astype(np.float64)
    ys, xs = np.meshgrid(np.arange(w.shape[0]) + 0.5, np.arange(w.shape[1]) + 0.5, indexing="ij")
    return float((w * xs).sum() / w.sum()), float((w * ys).sum() / w.sum())


@pytest.mark.parametrize("yaw", [2.0, 7.5, -12.0])
def test_pure_yaw_moves_centre_by_f_tan(yaw: float) -> None:
    cam = PinholeCamera(256, 256, 60.0)
    views = _dot_panorama().render(Rotation.concatenate([view_orientation(0, 0), view_orientation(yaw, 0)]), cam)
    x0, y0 = _centroid(views[0])
    x1, y1 = _centroid(views[1])
    assert x0 == pytest.approx(128.0, abs=0.05) and y0 == pytest.approx(128.0, abs=0.05)
    # turning right by yaw moves what was at the centre left by f * tan(yaw)
    assert x0 - x1 == pytest.approx(cam.focal * math.tan(math.radians(yaw)), abs=0.1)
    assert y1 == pytest.approx(y0, abs=0.05)


def test_pitch_up_moves_content_down() -> None:
    cam = PinholeCamera(128, 128, 60.0)
    view = _dot_panorama().render(view_orientation(0, 5.0), cam)[0]
    _, y = _centroid(view)
    assert y - 64 == pytest.approx(cam.focal * math.tan(math.radians(5.0)), abs=0.1)


def test_identity_rotation_reproduces_the_photo_exactly() -> None:
    photo = np.random.default_rng(0).random((96, 128, 3), dtype=np.float32)
    source = PinholeCamera(128, 96, 60.0)
    view = PinholeCamera.from_focal(128, 96, source.focal)
    out = render_photo(photo, source, Rotation.identity(1), view)
    np.testing.assert_allclose(out[0], photo, atol=1e-4)  # float32 sampling coordinates


def test_photo_yaw_is_the_homography_of_a_shift() -> None:
    """A pure yaw of a photo view moves the centre column by f*tan(a) (homography K R K^-1)."""
    photo = np.zeros((200, 400, 3), np.float32)
    photo[95:105, 195:205] = 1.0
    source = PinholeCamera(400, 200, 60.0)
    view = PinholeCamera.from_focal(200, 200, source.focal)
    out = render_photo(photo, source, Rotation.concatenate([view_orientation(0, 0), view_orientation(4.0, 0)]), view)
    x0, _ = _centroid(out[0])
    x1, _ = _centroid(out[1])
    assert x0 - x1 == pytest.approx(source.focal * math.tan(math.radians(4.0)), abs=0.2)


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (35, 10), (-150, -25), (179, 5), (60, 50)])
def test_equirect_agrees_with_py360convert_on_real_panorama(yaw: float, pitch: float) -> None:
    py360convert = pytest.importorskip("py360convert")
    img = Image.open(real_panorama()).convert("RGB").resize((2048, 1024), Image.BOX)
    e = np.asarray(img, dtype=np.float32) / 255.0
    size, fov = 192, 60.0
    # py360convert puts the outermost pixel centres (not edges) at +-tan(fov/2)
    cam = PinholeCamera.from_focal(size, size, (size - 1) / 2.0 / math.tan(math.radians(fov) / 2.0))
    ours = EquirectImage(e).render(view_orientation(yaw, pitch), cam)[0]
    ref = py360convert.e2p(e, fov, yaw, pitch, (size, size))
    psnr = 10 * np.log10(1.0 / np.mean((ours - ref) ** 2))
    assert psnr >= 40.0


def test_equirect_pixels_are_the_analytic_longitude_and_latitude() -> None:
    """The sampling coordinates against longitude and latitude computed in float64 one by one."""
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(3, 200))
    cols, rows = directions_to_equirect_pixels(directions.copy(), 64, 32)
    for (x, y, z), col, row in zip(directions.T, cols, rows, strict=True):
        lon, lat = math.atan2(x, z), math.asin(y / math.sqrt(x * x + y * y + z * z))
        # edge coordinates (lon / 2pi + 1/2) * width, to centres at integers, plus the wrapped column
        assert col == pytest.approx((lon / (2 * math.pi) + 0.5) * 64 - 0.5 + 1, abs=1e-9)
        assert row == pytest.approx((lat / math.pi + 0.5) * 32 - 0.5, abs=1e-9)


def test_render_is_seamless_across_the_longitude_wrap() -> None:
    h, w = 64, 128
    cols = np.linspace(0, 1, w, dtype=np.float32)
    pano = EquirectImage(np.repeat(np.tile(cols, (h, 1))[..., None], 3, 2))
    view = pano.render(view_orientation(180.0, 0.0), PinholeCamera(32, 32, 20.0))[0, ..., 0]
    # left of the seam is bright (end of the row), right is dark (start of the row)
    assert view[:, :8].mean() > 0.9 and view[:, -8:].mean() < 0.1


def test_slerp_endpoints_and_even_spacing() -> None:
    start = view_orientation(30, -10)
    motion = Rotation.from_euler("XYZ", [3, -2, 4], degrees=True)
    rots = interpolate_orientations(start, motion, 9)
    assert np.allclose(rots[0].as_matrix(), start.as_matrix())
    assert np.allclose(rots[-1].as_matrix(), (start * motion).as_matrix())
    steps = [rotation_magnitude_deg(rots[i].inv() * rots[i + 1]) for i in range(8)]
    assert np.allclose(steps, rotation_magnitude_deg(motion) / 8)


@pytest.mark.parametrize("fov", [0.5, 1.0, 179.0, 200.0])
def test_fov_out_of_range_is_refused(fov: float) -> None:
    with pytest.raises(Blur2VideoError, match="outside"):
        PinholeCamera(64, 64, fov)
