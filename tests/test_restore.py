"""The main job: restore command and Python API, tiling, every bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from blur2video import Restorer
from blur2video.cli import main
from blur2video.errors import Blur2VideoError
from blur2video.restore import bundled_weights

OUTPUTS = {"frame_0.png", "frame_6.png", "sheet.png", "motion.json", "motion.png"}


@pytest.fixture(scope="module")
def restorer() -> Restorer:
    return Restorer.from_pretrained("cpu")


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "cup.png"
    Image.fromarray(skimage.data.coffee()[100:196, 200:328]).save(path)
    return path


def test_readme_api_example(restorer: Restorer) -> None:
    image = skimage.data.coffee()[:96, :128]  # any HxWx3 array, PIL image or path
    result = restorer.restore(image)
    assert result.frames.shape == (7, 96, 128, 3) and result.frames.dtype == np.float32
    assert result.frames_uint8().dtype == np.uint8
    assert result.motion.affines.shape == (7, 2, 3)
    assert result.motion.flow.shape == (7, 2, 96, 128)
    np.testing.assert_allclose(
        result.motion.affines[3], [[1, 0, 0], [0, 1, 0]], atol=1e-4
    )  # the middle frame does not move


def test_restore_command_writes_every_output(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["restore", str(photo), "--out", str(out), "--pingpong"]) == 0
    folder = out / "cup"
    names = {p.name for p in folder.iterdir()}
    assert OUTPUTS | {"cup.gif", "cup.mp4"} <= names
    assert len([n for n in names if n.startswith("frame_")]) == 7
    gif = Image.open(folder / "cup.gif")
    assert gif.n_frames == 12  # ping-pong: 7 forward + 5 back
    motion = json.loads((folder / "motion.json").read_text())
    assert len(motion["frames"]) == 7 and motion["size"] == [128, 96]
    import imageio.v3 as iio

    assert iio.imread(folder / "cup.mp4").shape[0] == 12
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp")]


def test_save_writes_what_the_restore_command_writes(restorer: Restorer, photo: Path, tmp_path: Path) -> None:
    assert main(["restore", str(photo), "--out", str(tmp_path / "cli")]) == 0
    cli = tmp_path / "cli" / "cup"
    video = restorer.restore(photo)
    folder = video.save(tmp_path / "api" / "cup")  # the README's API example
    assert folder == tmp_path / "api" / "cup"
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in cli.iterdir())
    for j in range(7):
        np.testing.assert_array_equal(
            np.asarray(Image.open(folder / f"frame_{j}.png")), np.asarray(Image.open(cli / f"frame_{j}.png"))
        )
    assert json.loads((folder / "motion.json").read_text()) == json.loads((cli / "motion.json").read_text())
    video.save(folder, "png")  # an earlier output is replaced
    assert {p.name for p in folder.iterdir()} == {f"frame_{j}.png" for j in range(7)}


def test_save_refuses_a_folder_of_other_files_and_unknown_formats(restorer: Restorer, tmp_path: Path) -> None:
    video = restorer.restore(skimage.data.coffee()[:64, :64])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(Blur2VideoError, match="notes.txt") as err:
        video.save(mine)
    assert "\n" not in str(err.value) and (mine / "notes.txt").read_text() == "keep me"
    for formats, fps in (("webm", 8.0), ((), 8.0), ("gif", 0.0)):
        with pytest.raises(Blur2VideoError):
            video.save(tmp_path / "out", formats, fps)
    assert not (tmp_path / "out").exists()


def test_formats_folders_and_globs(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["restore", str(photo.parent), "--out", str(out), "--format", "gif"]) == 0
    assert (out / "cup" / "cup.gif").exists() and not (out / "cup" / "cup.mp4").exists()
    assert main(["restore", str(photo.parent / "*.png"), "--out", str(tmp_path / "o2"), "--frames-only"]) == 0
    assert {p.name for p in (tmp_path / "o2" / "cup").iterdir()} == {f"frame_{j}.png" for j in range(7)}


def test_tiles_match_one_pass_away_from_borders(restorer: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within about a grey level for the network's frames (the middle frame's kernel-bank blend
    takes up to all of the network's own middle frame in a tile, whose tiled and one-pass forms
    differ by up to a level before rounding); the reblur fallback, made on the whole photo either
    way, turns their differences into up to a few where its trust is steep (tests/test_tiling.py)."""
    image = skimage.data.coffee()[:192, :256]
    for fallback, bound in ((0.0, 1.5 / 255), (restorer.model.config.fallback, 4 / 255)):
        with monkeypatch.context() as m:
            m.setattr(restorer.model, "config", replace(restorer.model.config, fallback=fallback))
            whole = restorer.restore(image)
            tiled = restorer.restore(image, max_pixels=128 * 128, overlap=64, motion_pixels=10**6)
        diff = np.abs(whole.frames - tiled.frames)[:, 16:-16, 16:-16]
        assert diff.max() <= bound, (fallback, diff.max() * 255)


def test_any_input_kind(restorer: Restorer, tmp_path: Path) -> None:
    rgb = skimage.data.coffee()[:64, :96]
    gray16 = skimage.data.camera()[:64, :80].astype(np.uint16) * 257
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])).save(tmp_path / "rgba.png")
    exif = Image.fromarray(rgb).getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", exif=exif)
    notes: list[str] = []
    assert restorer.restore(tmp_path / "g16.png").frames.shape == (7, 64, 80, 3)
    assert restorer.restore(tmp_path / "rgba.png", notes=notes).frames.shape == (7, 64, 96, 3)
    assert any("alpha" in n for n in notes)
    assert restorer.restore(tmp_path / "rot.jpg").frames.shape == (7, 96, 64, 3)
    assert restorer.restore(Image.fromarray(rgb)).frames.shape == (7, 64, 96, 3)


def test_bad_inputs_get_one_line_and_the_rest_is_processed(
    photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    good = photo.read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 3])
    Image.fromarray(skimage.data.coffee()[:16, :20]).save(tmp_path / "tiny.png")
    bad = ["missing.png", "empty.png", "text.png", "cut.png", "tiny.png"]
    out = tmp_path / "out"
    code = main(["restore", *[str(tmp_path / b) for b in bad], str(photo), "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    err = [line for line in lines if not line.startswith("restore")]  # less the step lines (test_progress.py)
    assert len(lines) - len(err) == 6  # one per input, good or bad
    assert code == 2
    assert len(err) == len(bad) and all(line.startswith("blur2video: error: ") for line in err)
    for name, line in zip(bad, err, strict=False):
        assert name in line
    assert "minimum is 32x32" in err[-1]
    assert (out / "cup" / "frame_0.png").exists()  # the good input was still restored
    assert sorted(p.name for p in out.iterdir()) == ["cup"]  # nothing half-written


def test_corrupt_or_foreign_checkpoint(photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(bundled_weights().read_bytes()[:1000])
    assert main(["restore", str(photo), "--out", str(tmp_path / "o"), "--checkpoint", str(cut)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(cut) in err[0]
    with pytest.raises(Blur2VideoError, match="no such checkpoint"):
        Restorer.from_checkpoint(tmp_path / "none.safetensors")
    assert "truncated" in err[0]
    with pytest.raises(Blur2VideoError, match=r"cup.png: not a safetensors file; give a model file"):
        Restorer.from_checkpoint(photo)  # a photo given as the checkpoint is not "truncated"
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(Blur2VideoError, match=r"run: is a folder, not a model file; give a model file in it"):
        Restorer.from_checkpoint(run)
    (run / "best.safetensors").write_bytes(b"")
    with pytest.raises(Blur2VideoError, match=r"run: is a folder, not a model file; give .*run/best.safetensors$"):
        Restorer.from_checkpoint(run)  # a RUN folder: the model file in it is named
    import torch
    from safetensors.torch import save_file

    save_file({"moment": torch.zeros(2)}, run / "state.safetensors")
    (run / "model.safetensors").write_bytes(b"")
    with pytest.raises(Blur2VideoError, match=r"state.safetensors: a checkpoint's optimiser state, not its model"):
        Restorer.from_checkpoint(run / "state.safetensors")


def test_confidence_gate_is_reported_in_motion_json(photo: Path, tmp_path: Path) -> None:
    """A model with the confidence gate reports each frame's mean trust; an untrusting gate (its
    bias driven down) returns the blur itself for the non-middle frames and lists them unsure."""
    import torch

    from blur2video.checkpoints import save_model
    from blur2video.model.config import ModelConfig
    from blur2video.model.network import Blur2Video

    torch.manual_seed(0)
    model = Blur2Video(ModelConfig(frames=3, base_channels=4, growth=4, dense_layers=(1, 1, 1, 1, 1), gate=True))
    with torch.no_grad():
        for p in model.frame_decoders.parameters():  # an untrained network returns the blur: make its frames differ
            p.add_(0.05 * torch.randn_like(p))
        model.gate.head.bias.fill_(-20.0)
    save_model(tmp_path / "gate.safetensors", model, {})
    out = tmp_path / "out"
    assert (
        main(
            [
                "restore",
                str(photo),
                "--out",
                str(out),
                "--checkpoint",
                str(tmp_path / "gate.safetensors"),
                "--format",
                "gif",
            ]
        )
        == 0
    )
    motion = json.loads((out / "cup" / "motion.json").read_text())
    assert [f["confidence"] for f in motion["frames"]] == [0.0, 1.0, 0.0]
    assert motion["unsure_frames"] == [0, 2]
    blur = np.asarray(Image.open(photo), dtype=np.float32)
    first = np.asarray(Image.open(out / "cup" / "frame_0.png"), dtype=np.float32)
    assert np.abs(first - blur).max() <= 1.0
    restorer = Restorer.from_checkpoint(tmp_path / "gate.safetensors", "cpu")
    tiled = restorer.restore(photo, max_pixels=64 * 64, overlap=16)
    np.testing.assert_allclose(tiled.motion.confidence, [0.0, 1.0, 0.0], atol=1e-6)


def test_a_folders_subfolders_are_named_not_silently_left_out(photo: Path, tmp_path: Path) -> None:
    """restore takes a folder's own images: a photo one level down was skipped without a word."""
    from blur2video.restore import expand_inputs

    top = tmp_path / "shoot"
    (top / "day2").mkdir(parents=True)
    (top / "day2" / "b.png").write_bytes(photo.read_bytes())
    notes: list[str] = []
    assert expand_inputs([str(top)], notes) == (
        [],
        [
            f"{top}: the folder has no images (.png, .jpg, .tif, .gif, ...); "
            "its subfolders are not searched (day2): give them too"
        ],
    )
    (top / "a.png").write_bytes(photo.read_bytes())
    assert expand_inputs([str(top)], notes) == ([top / "a.png"], [])
    assert notes == [f"{top}: its subfolders are not searched (day2): give them too"]
