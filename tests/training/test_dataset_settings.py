"""Training on a DATASET folder as it is: the model takes the dataset's N unless the config or
--frames sets one, and a small dataset still keeps a validation sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib

from blur2video.checkpoints import model_config_of, read_metadata
from blur2video.cli import main
from blur2video.data.dataset import FolderDataset
from blur2video.errors import Blur2VideoError
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationSettings

TINY = ["--set", "model.base_channels=4", "--set", "model.growth=4"]


@pytest.fixture(scope="module")
def sixteen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 samples of 32x32 with N = 3 (the default model predicts 7)."""
    root = tmp_path_factory.mktemp("data") / "rot3"
    settings = RotationSettings(source_kind="photo", frames=3, size=32, fov_deg=60, max_angle_deg=2.0, seed=5)
    synthesize_rotation("skimage:astronaut", root, 16, settings)
    return root


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_a_small_three_frame_dataset_trains_with_no_frames_given(sixteen: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["train", "--data", str(sixteen), "--out", str(run), "--steps", "1", "--batch-size", "4"]
    assert main([*argv, "--crop", "32", "--workers", "0", "--quiet", *TINY]) == 0
    assert model_config_of(read_metadata(run / "model.safetensors"), run).frames == 3
    assert tomllib.loads((run / "config.toml").read_text())["model"]["frames"] == 3
    validated = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val_psnr_middle" in row for row in validated)


def test_print_config_shows_the_datasets_n(sixteen: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--print-config", "--data", str(sixteen)]) == 0
    assert tomllib.loads(capsys.readouterr().out)["model"]["frames"] == 3


@pytest.mark.parametrize("how", ["--frames", "config"])
def test_an_n_that_is_set_and_disagrees_with_the_data_is_one_line(
    sixteen: Path, tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if how == "--frames":
        given = ["--frames", "5"]
    else:
        (tmp_path / "n7.toml").write_text("[model]\nframes = 7\n")
        given = ["--config", str(tmp_path / "n7.toml")]
    argv = ["train", "--data", str(sixteen), "--out", str(tmp_path / "run"), "--workers", "0", *given, *TINY]
    assert main(argv) == 2
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1 and str(sixteen) in err[0] and "N=3" in err[0] and "--frames 3" in err[0], err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_small_dataset_keeps_at_least_one_validation_sample(sixteen: Path) -> None:
    full = FolderDataset(sixteen)
    train, val = full.split(0.05)  # the default share: 1 in 20
    assert (len(train), len(val)) == (15, 1)
    assert {r["id"] for r in train.records}.isdisjoint(r["id"] for r in val.records)
    train, val = full.split(0.25)  # enough samples for the share: every 4th
    assert (len(train), len(val)) == (12, 4)


def test_a_one_sample_dataset_is_refused_naming_val_data(sixteen: Path) -> None:
    one = FolderDataset(sixteen, records=FolderDataset(sixteen).records[:1])
    with pytest.raises(Blur2VideoError) as err:
        one.split(0.05)
    assert str(sixteen) in str(err.value) and "--val-data" in str(err.value) and "\n" not in str(err.value)


def test_the_crop_fits_the_samples_when_none_is_given(sixteen: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 32-px DATASET trains whole samples under the default 128-px crop; a crop that is given
    is kept, and one too large for the samples is refused in one line naming the fix."""
    assert main(["train", "--print-config", "--data", str(sixteen)]) == 0
    assert tomllib.loads(capsys.readouterr().out)["train"]["crop"] == 32
    assert main(["train", "--print-config", "--data", str(sixteen), "--crop", "24"]) == 0
    assert tomllib.loads(capsys.readouterr().out)["train"]["crop"] == 24


def test_a_crop_that_is_given_and_too_large_is_one_line(
    sixteen: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", str(sixteen), "--out", str(tmp_path / "run"), "--crop", "64", "--workers", "0"]
    assert main([*argv, *TINY]) == 2
    (error,) = [line for line in _lines(capsys.readouterr().err) if line.startswith("blur2video: error")]
    assert "32x32" in error and "--crop 32" in error


def test_a_missing_dataset_or_its_index_file_is_named_as_such(tmp_path: Path) -> None:
    """A typo'd --data said 'not a DATASET folder', as if the folder existed; its index file given
    instead of the folder names the folder."""
    with pytest.raises(Blur2VideoError, match=r"pano3: no such folder; give a DATASET folder made by"):
        FolderDataset(tmp_path / "pano3")
    (tmp_path / "index.jsonl").write_text("")
    with pytest.raises(Blur2VideoError, match=r"index.jsonl: give the DATASET folder that holds it"):
        FolderDataset(tmp_path / "index.jsonl")


def test_a_validation_dataset_of_another_n_names_the_two_datasets(
    sixteen: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The N came from --data: the message told the user to give --frames 5, which --data refuses."""
    five = tmp_path / "rot5"
    synthesize_rotation("skimage:astronaut", five, 2, RotationSettings(source_kind="photo", frames=5, size=32))
    argv = ["train", "--data", str(sixteen), "--val-data", str(five), "--out", str(tmp_path / "run"), *TINY]
    assert main([*argv, "--workers", "0", "--batch-size", "2"]) == 2
    (error,) = [line for line in _lines(capsys.readouterr().err) if line.startswith("blur2video: error")]
    assert f"{five}: the validation DATASET (--val-data, data.val_path) has N=5 frames but {sixteen} has 3" in error
    assert error.endswith("give a --val-data of 3 frames") and "--frames" not in error


def test_resume_where_there_is_no_run_says_so(
    sixteen: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--resume with a mistyped --out said 'no training data', or with --data trained anew without a word."""
    assert main(["train", "--out", str(tmp_path / "runs" / "dmeo"), "--resume"]) == 2
    (error,) = _lines(capsys.readouterr().err)
    assert error == (
        f"blur2video: error: {tmp_path / 'runs' / 'dmeo'}: no run to resume (no config.toml); check the folder's "
        "name, or start a run there with --config or --data"
    )
    run = tmp_path / "fresh"
    argv = ["train", "--data", str(sixteen), "--out", str(run), "--resume", "--steps", "1", "--batch-size", "4"]
    assert main([*argv, "--crop", "32", "--workers", "0", *TINY]) == 0
    assert f"nothing to resume in {run} (no last.json): training from step 0" in capsys.readouterr().err
