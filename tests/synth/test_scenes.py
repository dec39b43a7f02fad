"""Procedural moving scenes: the written flows rebuild the motion; determinism; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blur2video.cli import main
from blur2video.data.dataset import FolderDataset
from blur2video.geometry.warp import warp_flow
from blur2video.synth.api import synthesize_scenes
from blur2video.synth.scenes import SceneSettings


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scenes") / "ds"
    synthesize_scenes(root, 3, SceneSettings(frames=5, size=96, objects=3, seed=2), textures="skimage:astronaut,coffee")
    return root


def _warp_errors(root: Path, i: int, frames: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(|warped middle - end frame|, |middle - end frame|) per end frame, borders cut."""
    out = []
    n = frames.shape[0]
    for name, j in (("flow_first.npy", 0), ("flow_last.npy", n - 1)):
        flow = torch.from_numpy(np.load(root / "samples" / f"{i:06d}" / name))
        warped = warp_flow(frames[n // 2 : n // 2 + 1], flow[None])[0]
        out.append(
            ((warped - frames[j]).abs().mean(0)[6:-6, 6:-6], (frames[n // 2] - frames[j]).abs().mean(0)[6:-6, 6:-6])
        )
    return out


def test_flows_warp_the_middle_frame_onto_the_end_frames(scenes: Path, tmp_path: Path) -> None:
    # camera motion only (no occlusion): the flow is right almost everywhere
    plain = tmp_path / "plain"
    synthesize_scenes(plain, 2, SceneSettings(frames=5, size=96, objects=0, seed=3), textures="skimage:astronaut")
    ds = FolderDataset(plain)
    for i in range(len(ds)):
        for err, still in _warp_errors(plain, i, ds[i][1]):
            assert err.median() < 0.006 and err.mean() < still.mean() / 3  # the rest: bilinear resampling of texture
    # with occluding objects: right away from the occlusions, which cover a minority of pixels
    ds = FolderDataset(scenes)
    for i in range(len(ds)):
        for err, still in _warp_errors(scenes, i, ds[i][1]):
            assert err.median() < 0.01 and err.median() < still.median() / 3


def test_meta_keeps_every_motion_and_is_deterministic(scenes: Path, tmp_path: Path) -> None:
    rec = json.loads((scenes / "index.jsonl").read_text().splitlines()[0])
    meta = rec["meta"]
    assert [layer["layer"] for layer in meta["layers"]] == ["background", "object_0", "object_1", "object_2"]
    for layer in meta["layers"]:
        assert {"start_px", "shift_px", "rotation_deg", "log_scale", "centre_px", "source"} <= set(layer)
    assert (meta["n_renders"] - 1) % 4 == 0
    again = tmp_path / "again"
    synthesize_scenes(
        again, 3, SceneSettings(frames=5, size=96, objects=3, seed=2), textures="skimage:astronaut,coffee", workers=2
    )
    assert (again / "index.jsonl").read_bytes() == (scenes / "index.jsonl").read_bytes()
    for name in ("blur.png", "frame_0.png", "flow_last.npy"):
        assert (again / "samples" / "000002" / name).read_bytes() == (scenes / "samples" / "000002" / name).read_bytes()


def test_bad_textures_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tex = tmp_path / "tex"
    tex.mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tex / "tiny.png")
    assert (
        main(
            ["synth", "scenes", "--out", str(tmp_path / "o"), "--textures", str(tex), "--samples", "1", "--size", "64"]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too small for a texture" in err[0]
    (tex / "tiny.png").unlink()
    (tex / "notes.txt").write_text("x")
    assert main(["synth", "scenes", "--out", str(tmp_path / "o2"), "--textures", str(tex), "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "point --textures at the images alone" in err  # the flag scenes has
    assert main(["synth", "scenes", "--out", str(tmp_path / "o3"), "--textures", str(tmp_path / "none")]) == 2
    assert "none: source does not exist; pass --textures a folder" in capsys.readouterr().err
