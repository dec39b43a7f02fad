"""Tiled restores: every frame of a photo restored in tiles matches the one-pass restore, seams
included (issue 22 item 8), and tiles that took opposite time orders are turned to agree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from blur2video import Restorer
from blur2video.fileio import read_image
from blur2video.model.config import ModelConfig
from blur2video.model.network import Blur2Video
from blur2video.tiling import FLOOR, blend_weight, tile_overlap, tile_starts, warp_reach

REAL_BLUR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_blur" / "blurred"  # optional

SHIFT_PX = 12  # how far the shifting model below moves the end frames, in pixels of a 288-px-wide photo


@pytest.fixture(scope="module")
def pretrained() -> Restorer:
    return Restorer.from_pretrained("cpu")


@pytest.fixture(scope="module")
def shifting() -> Restorer:
    """An untrained network (its frames are warps of the blur) whose first and last frames are the
    blur moved 12 px right and left: a warp reads zeros past a tile's edge, as the end frames of a
    real model do, without any other difference between a tile and the whole photo."""
    torch.manual_seed(0)
    model = Blur2Video(ModelConfig(frames=3, base_channels=4, growth=4, dense_layers=(1, 1, 1, 1, 1))).eval()
    t = 2 * SHIFT_PX / 288  # normalised coordinates span 2 across the width
    with torch.no_grad():
        for transformer in [*model.itn, *model.ftn]:
            transformer.localizer.head.bias.copy_(torch.tensor([1, 0, t, 0, 1, 0, 1, 0, -t, 0, 1, 0]))
    return Restorer(model, {}, torch.device("cpu"))


def moving_photo(width: int = 224) -> np.ndarray:
    """160 x ``width``: a photo averaged over a sideways motion of 9 px, as a camera shake blurs it."""
    source = skimage.data.astronaut().astype(np.float32)
    moves = [(k // 2, round(1.5 * k)) for k in range(7)]
    frames = [source[100 + dy : 260 + dy, 100 + dx : 100 + width + dx] for dy, dx in moves]
    return (np.mean(frames, axis=0) / 255).astype(np.float32)


def test_weights_skip_the_bands_and_cover_every_pixel() -> None:
    overlap = tile_overlap(40, 12)
    assert overlap == 56 and tile_overlap(96, 12) == 96
    w = blend_weight(100, overlap, 12, True, True)
    assert torch.all(w[:12] == FLOOR) and torch.all(w[-12:] == FLOOR) and torch.all(w[overlap:-overlap] == 1)
    assert torch.all(blend_weight(100, overlap, 12, False, False) == 1)  # the photo's own borders count in full
    for size in (150, 224, 500, 1000):
        total = torch.zeros(size)
        starts = tile_starts(size, 128, overlap)
        for s in starts:
            total[s : s + 128] += blend_weight(128, overlap, 12, s > 0, s + 128 < size)
        assert float(total.min()) > 0.2, (size, starts)


def test_warp_reach_is_the_farthest_move_of_any_pixel() -> None:
    shift = torch.tensor([[[1.0, 0.0, 3.2], [0.0, 1.0, -1.0]]], dtype=torch.float64)
    assert warp_reach(shift, 100, 200) == 4
    zoom = torch.tensor([[[1.01, 0.0, 0.0], [0.0, 1.01, 0.0]]], dtype=torch.float64)  # 1% about the top-left corner
    assert warp_reach(zoom, 100, 200) == 2  # the far corner moves 1.99 px


def tiles_run(restorer: Restorer, monkeypatch: pytest.MonkeyPatch, reverse: int | None = None) -> list[int]:
    """Count the network's passes of ``restorer``; the pass numbered ``reverse`` returns its
    frames and motion in the opposite time order."""
    run, calls = restorer._run, []

    def counted(*args, **kwargs):
        out = run(*args, **kwargs)
        calls.append(1)
        return tuple(None if t is None else t.flip(0) for t in out) if len(calls) == reverse else out

    monkeypatch.setattr(restorer, "_run", counted)
    return calls


def test_tiles_of_a_moving_photo_blend_without_seams(shifting: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each tile's end frames are zero over 12 px at its inner edges; the blend gives those bands no
    weight, so every frame equals the one-pass restore, at the seams too (before the fix the seam
    columns were 12-15 grey levels off). Sizes are multiples of 32: no padding at the photo's border."""
    image = moving_photo(288)
    whole = shifting.restore(image)
    calls = tiles_run(shifting, monkeypatch)
    tiled = shifting.restore(image, max_pixels=192 * 192, overlap=64, motion_pixels=10**6)
    assert len(calls) == 2  # two tiles of 160x192
    np.testing.assert_allclose(whole.frames[0, :, :-SHIFT_PX], image[:, SHIFT_PX:], atol=1e-5)  # the blur moved
    assert np.all(whole.frames[0, :, -SHIFT_PX + 1 :] == 0)  # and zeros where the warp reads past the edge
    np.testing.assert_allclose(tiled.frames, whole.frames, atol=1e-5)
    np.testing.assert_allclose(tiled.motion.flow, whole.motion.flow, atol=1e-4)


def test_a_tile_restored_in_the_other_time_order_is_turned_back(
    shifting: Restorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blur cannot tell forward from backward, so a tile may come out reversed; the blend
    compares it with its neighbours in their overlap and reverses it back, frames and motion."""
    image = moving_photo(288)
    whole = shifting.restore(image)
    calls = tiles_run(shifting, monkeypatch, reverse=2)
    tiled = shifting.restore(image, max_pixels=192 * 192, overlap=64, motion_pixels=10**6)
    assert len(calls) == 2
    np.testing.assert_allclose(tiled.frames, whole.frames, atol=1e-5)
    np.testing.assert_allclose(tiled.motion.flow, whole.motion.flow, atol=1e-4)


def _seam_error(tiled: np.ndarray, whole: np.ndarray, border: int = 16) -> tuple[float, float]:
    """(worst mean |difference| of a column or a row, worst pixel) in grey levels, away from the
    photo's own border. With the motion of the one-pass restore imposed on the tiles, the two
    differ where tiles meet and little elsewhere: a seam is a column or row that stands out."""
    diff = np.abs(tiled - whole).mean(-1)[:, border:-border, border:-border] * 255
    return max(float(diff.mean(1).max()), float(diff.mean(2).max())), float(diff.max())


def test_pretrained_tiles_match_one_pass_on_every_frame(pretrained: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The network's frames (the reblur fallback off) show no seam. The fallback is made once on
    the whole tiled photo: made per tile, it put a column 1.1 grey levels off at a seam. It
    turns the frames' small differences into larger smooth ones where the trust is steep, so its
    bound is looser, but its trust is the one-pass one."""
    image = moving_photo()
    own = replace(pretrained.model.config, fallback=0.0)
    with monkeypatch.context() as m:
        m.setattr(pretrained.model, "config", own)
        whole = pretrained.restore(image)
        tiled = pretrained.restore(image, max_pixels=160 * 160, overlap=64, motion_pixels=10**6)
    line, pixel = _seam_error(tiled.frames, whole.frames)
    assert line < 0.25 and pixel < 3.0, (line, pixel)
    assert pretrained.model.config.fallback > 0
    whole = pretrained.restore(image)
    tiled = pretrained.restore(image, max_pixels=160 * 160, overlap=64, motion_pixels=10**6)
    line, pixel = _seam_error(tiled.frames, whole.frames)
    assert line < 0.5 and pixel < 8.0, (line, pixel)
    np.testing.assert_allclose(tiled.motion.confidence, whole.motion.confidence, atol=0.005)


def test_a_real_blurred_photo_tiles_without_seams(pretrained: Restorer) -> None:
    """A real motion-blurred photo (GoPro: camera shake and moving people), 224x352 in six tiles of
    160: no column or row of any frame is half a grey level off the one-pass restore."""
    path = REAL_BLUR / "gopro_seq1.png"
    if not path.exists():
        pytest.skip(f"needs the real blurred photos of ../shared/data at {path.parent} (optional)")
    image = read_image(path)[200:424, 400:752]
    whole = pretrained.restore(image)
    tiled = pretrained.restore(image, max_pixels=160 * 160, overlap=64, motion_pixels=10**6)
    line, pixel = _seam_error(tiled.frames, whole.frames)
    assert line < 0.5, (line, pixel)
