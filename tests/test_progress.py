"""Feedback on long commands (issue 22, item 5): where stderr is not a terminal every long command
prints plain step lines, ``--quiet`` leaves stderr to errors alone, and the outputs appear either
way. The commands run on tiny inputs, in a real process where the terminal question matters."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import run_main

from blur2video import progress
from blur2video.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY_MODEL = ["--set", "model.base_channels=4", "--set", "model.growth=4"]


def _photo(path: Path, seed: int, size: tuple[int, int] = (64, 96)) -> Path:
    rng = np.random.default_rng(seed)
    base = rng.random((size[0] // 8, size[1] // 8, 3))
    image = np.kron(base, np.ones((8, 8, 1))) * 0.7 + rng.random((*size, 3)) * 0.3
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six samples of 32 px rotation blur with N = 3."""
    root = tmp_path_factory.mktemp("progress") / "data"
    args = ["synth", "rotation", "--source", "skimage:astronaut", "--kind", "photo", "--out", str(root)]
    assert main([*args, "--samples", "6", "--frames", "3", "--size", "32", "--quiet"]) == 0
    return root


def test_synth_in_a_log_prints_step_lines_and_quiet_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["synth", "scenes", "--samples", "3", "--size", "32", "--frames", "3", "--objects", "1"]
    loud = run_main([*args, "--out", str(tmp_path / "loud")], capsys)
    assert loud.returncode == 0, loud.stderr
    lines = loud.stderr.splitlines()
    assert lines[0].startswith("synth scenes: 1/3 samples (33%)") and "left" in lines[0], lines
    assert lines[-1].startswith("synth scenes: 3/3 samples (100%)"), lines
    assert "\r" not in loud.stderr  # plain lines, no bar drawn over itself
    quiet = run_main([*args, "--out", str(tmp_path / "quiet"), "--quiet"], capsys)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "wrote 3 samples" in quiet.stdout
    index = (tmp_path / "quiet" / "index.jsonl").read_bytes()
    assert index == (tmp_path / "loud" / "index.jsonl").read_bytes() and len(index.splitlines()) == 3


def test_restore_of_several_photos_in_a_log_and_quiet(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = [str(_photo(tmp_path / "in" / f"p{i}.png", i)) for i in range(2)]
    args = ["restore", *photos, "--format", "png"]
    loud = run_main([*args, "--out", str(tmp_path / "loud")], capsys)
    assert loud.returncode == 0, loud.stderr
    steps = [line for line in loud.stderr.splitlines() if line.startswith("restore: ")]
    assert [s.split(" (")[0] for s in steps] == ["restore: 1/2 inputs", "restore: 2/2 inputs"], loud.stderr
    quiet = run_main([*args, "--out", str(tmp_path / "quiet"), "--quiet"], capsys)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.count(" -> ") == 2
    assert all((tmp_path / "quiet" / f"p{i}" / "frame_6.png").is_file() for i in range(2))


def test_quiet_restore_still_prints_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = _photo(tmp_path / "good.png", 0)
    (tmp_path / "bad.png").write_text("not an image")
    args = ["restore", str(tmp_path / "bad.png"), str(good), "--out", str(tmp_path / "o"), "--format", "png"]
    assert main([*args, "--quiet", "--threads", "1"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("blur2video: error: ") and "bad.png" in lines[0]
    assert (tmp_path / "o" / "good" / "frame_0.png").is_file()


def test_a_large_photo_shows_its_tiles_and_verbose_says_where_the_time_went(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    photo = _photo(tmp_path / "wide.png", 1, size=(64, 352))
    out = tmp_path / "o"
    args = ["restore", str(photo), "--out", str(out), "--threads", "1", "--max-pixels", "4096", "--verbose"]
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    tiles = [line for line in err if line.startswith("restore wide.png: ")]
    assert tiles and tiles[-1].startswith("restore wide.png: 2/2 tiles"), err
    times = [line for line in err if line.startswith("blur2video: time: ")]
    assert len(times) == 2 and all(w in times[0] for w in ("load", "network", "writing")), err
    assert "start-up" in times[1] and "not overlapped" in times[1]
    assert {p.name for p in (out / "wide").iterdir()} >= {"wide.gif", "wide.mp4", "motion.png", "sheet.png"}


def test_a_video_shows_its_frames_in_a_log(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import imageio.v2 as imageio

    clip = tmp_path / "clip.mp4"
    writer = imageio.get_writer(clip, format="FFMPEG", fps=10, codec="libx264", ffmpeg_log_level="error")
    for k in range(3):
        writer.append_data(np.roll(np.asarray(Image.open(_photo(tmp_path / "f.png", 0))), 4 * k, axis=1))
    writer.close()
    assert main(["restore", str(clip), "--out", str(tmp_path / "o"), "--threads", "1"]) == 0
    captured = capsys.readouterr()
    steps = [line for line in captured.err.splitlines() if line.startswith("restore clip.mp4: ")]
    assert steps and steps[0].startswith("restore clip.mp4: 1") and " frames" in steps[0], captured.err
    rate = re.search(r"([\d.]+) frames/s", steps[0])  # else "S s/frame": slower than a frame a second
    assert rate is None or float(rate.group(1)) < 1000, steps[0]  # timed from the start, not from frame 1's end
    assert "clip.mp4 -> " in captured.out and (tmp_path / "o" / "clip" / "clip.mp4").is_file()


def test_train_eval_and_ablate_in_a_log_and_quiet(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    common = ["--frames", "3", "--batch-size", "2", "--crop", "32", "--workers", "0", *TINY_MODEL]
    train = ["train", "--data", str(dataset), *common, "--steps", "2", "--set", "train.val_fraction=0.34"]
    assert main([*train, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in err if line.startswith("train: ")] == [
        "train: 1/2 steps",
        "train: 2/2 steps",
    ]
    assert any(line.startswith("epoch ") and "validation PSNR" in line for line in err)
    assert main([*train, "--out", str(tmp_path / "run-quiet"), "--quiet"]) == 0
    assert capsys.readouterr().err == "" and (tmp_path / "run-quiet" / "model.safetensors").is_file()

    model = str(tmp_path / "run" / "model.safetensors")
    evaluate = ["eval", "--checkpoint", model, "--data", str(dataset), "--batch-size", "4"]
    assert main([*evaluate, "--out", str(tmp_path / "rep")]) == 0
    steps = [line for line in capsys.readouterr().err.splitlines() if line.startswith("eval: ")]
    assert [s.split(" (")[0] for s in steps] == ["eval: 1/2 batches", "eval: 2/2 batches"]
    assert main([*evaluate, "--out", str(tmp_path / "rep-quiet"), "--quiet"]) == 0
    assert capsys.readouterr().err == "" and (tmp_path / "rep-quiet" / "report.md").is_file()

    config = tmp_path / "base.toml"
    config.write_text(
        "[model]\nframes = 3\nbase_channels = 4\ngrowth = 4\n[train]\nbatch_size = 2\ncrop = 32\n"
        "workers = 0\nval_fraction = 0.34\n"
    )
    ablate = ["ablate", "--data", str(dataset), "--config", str(config), "--steps", "1", "--variants", "pml"]
    assert main([*ablate, "--out", str(tmp_path / "abl")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("ablate: 1/1 variants (100%)") for line in err), err
    assert any(line.startswith("train pml: 1/1 steps") for line in err), err
    assert main([*ablate, "--out", str(tmp_path / "abl-quiet"), "--quiet"]) == 0
    assert capsys.readouterr().err == "" and (tmp_path / "abl-quiet" / "table5.md").is_file()


def test_lines_come_first_last_and_at_most_every_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.1, 0.2, 6.0, 6.1, 6.2])  # creation, then one reading per step
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    previous = progress.set_mode("lines")
    try:
        with progress.track(5, "work", "item", every_s=5.0) as bar:
            for _ in range(5):
                bar.update(1, loss="0.5")
    finally:
        progress.set_mode(previous)
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["work: 1/5 items", "work: 3/5 items", "work: 5/5 items"]
    assert lines[0].endswith("0:00 left, loss=0.5") and "items/s" in lines[0]


def test_the_mode_follows_the_terminal_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    previous = progress.set_mode("auto")
    try:
        assert progress.mode(Terminal()) == "bar" and progress.mode(io.StringIO()) == "lines"
        progress.set_mode("quiet")
        assert progress.mode(Terminal()) == "quiet" and progress.quiet()
        stream, out = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setattr(sys, "stdout", out)
        progress.say("a note")
        progress.problem("blur2video: error: a problem")
        progress.result("photo.png -> out/photo/")
        assert stream.getvalue() == "blur2video: error: a problem\n" and out.getvalue() == "photo.png -> out/photo/\n"
        with pytest.raises(ValueError, match="choose one of"):
            progress.set_mode("loud")
    finally:
        progress.set_mode(previous)
