"""Issue 21, datasets and numbers: index rows stay inside their DATASET folder (item 4), bad rows
and bad flags get one line (items 9, 10), shards started together on a new folder all succeed
(item 7), and a bad source leaves nothing behind while a corrected rerun works (item 8)."""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from blur2video.checkpoints import save_model
from blur2video.cli import build_parser, main
from blur2video.data.dataset import FolderDataset
from blur2video.errors import Blur2VideoError
from blur2video.model.config import ModelConfig
from blur2video.model.network import Blur2Video
from blur2video.synth.writer import DatasetWriter

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("blur2video: error:"), stderr
    assert "Traceback" not in stderr
    return lines[0]


def _cli(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "blur2video", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def _tree(root: Path) -> dict[str, str]:
    """Digest of every visible file under ``root`` (the lock and temporary files are hidden)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


# ---- items 9 and 10: every number is checked where it is parsed ------------------------------

ROT = ["synth", "rotation", "--source", "skimage", "--out", "o"]
VID = ["synth", "video", "--source", "v", "--out", "o"]
SCN = ["synth", "scenes", "--out", "o"]
TRN = ["train", "--out", "o"]
RST = ["restore", "x.png"]
EVL = ["eval", "--checkpoint", "a.safetensors", "--data", "d", "--out", "o"]
ABL = ["ablate", "--data", "d", "--out", "o", "--steps", "5"]
SRV = ["serve"]

BAD = [
    (ROT, "--samples", "0"),
    (ROT, "--samples", "-3"),
    (ROT, "--frames", "4"),
    (ROT, "--frames", "1"),
    (ROT, "--size", "8"),
    (ROT, "--fov", "0"),
    (ROT, "--fov", "nan"),
    (ROT, "--max-angle", "0"),
    (ROT, "--max-angle", "90"),
    (ROT, "--frames-per-degree", "0"),
    (ROT, "--max-pitch", "-1"),
    (ROT, "--seed", "-1"),
    (ROT, "--workers", "0"),
    (ROT, "--shard", "4/4"),
    (VID, "--frames", "2"),
    (VID, "--stride", "0"),
    (VID, "--size", "-1"),
    (VID, "--crops-per-window", "0"),
    (VID, "--samples", "0"),
    (VID, "--first", "-1"),
    (VID, "--last", "-2"),
    (VID, "--seed", "-1"),
    (VID, "--workers", "0"),
    (VID, "--shard", "1/0"),
    (SCN, "--samples", "-3"),
    (SCN, "--frames", "6"),
    (SCN, "--size", "16"),
    (SCN, "--objects", "-1"),
    (SCN, "--max-camera-shift", "-1"),
    (SCN, "--max-object-shift", "inf"),
    (SCN, "--max-rotation", "-2"),
    (SCN, "--seed", "-5"),
    (SCN, "--workers", "0"),
    (SCN, "--shard", "two"),
    (TRN, "--epochs", "0"),
    (TRN, "--steps", "-5"),
    (TRN, "--batch-size", "0"),
    (TRN, "--lr", "0"),
    (TRN, "--lr", "nan"),
    (TRN, "--crop", "-1"),
    (TRN, "--frames", "4"),
    (TRN, "--workers", "-1"),
    (TRN, "--seed", "-1"),
    (TRN, "--threads", "0"),
    (RST, "--fps", "0"),
    (RST, "--fps", "inf"),
    (RST, "--max-pixels", "0"),
    (RST, "--threads", "0"),
    (SRV, "--port", "70000"),
    (SRV, "--port", "-1"),
    (SRV, "--max-megapixels", "0"),
    (SRV, "--max-megapixels", "nan"),
    (SRV, "--max-file-mb", "-1"),
    (EVL, "--batch-size", "0"),
    (EVL, "--samples", "-3"),
    (EVL, "--samples", "two"),
    (EVL, "--threads", "0"),
    (ABL, "--steps", "-5"),
    (ABL, "--jobs", "0"),
    (ABL, "--eval-samples", "0"),
    (ABL, "--seeds", "-1"),
    (TRN, "--device", "gpu"),
    (RST, "--device", "gpu"),
    (SRV, "--device", "cuda0"),
    (EVL, "--device", "GPU"),
    (ABL, "--device", "cuda:x"),
    (TRN, "--out", __file__),  # a file where the output folder should go
    (EVL, "--out", __file__),
    (ABL, "--out", __file__),
]


@pytest.mark.parametrize(
    "base,option,value", BAD, ids=[f"{b[0]}{'-' + b[1] if b[0] == 'synth' else ''} {o} {v}" for b, o, v in BAD]
)
def test_bad_number_is_one_line_at_parse_time(
    base: list[str], option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*base, option, value])  # exits while parsing: no file named above is ever opened
    assert exit_info.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert option in line and value in line


@pytest.mark.parametrize(
    "argv",
    [
        [*EVL[:2], "b.safetensors", *EVL[2:], "--name", "a", "a"],
        [*ABL, "--variants", "full", "no-stn", "full"],
        [*ABL, "--seeds", "1", "2", "1"],
    ],
    ids=["eval --name a a", "ablate --variants full full", "ablate --seeds 1 2 1"],
)
def test_repeated_labels_are_one_line_at_parse_time(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "given twice" in _one_line(capsys.readouterr().err)


def test_every_numeric_option_has_a_checked_type() -> None:
    """A new ``type=int`` or ``type=float`` option would accept -3 or nan unchecked."""

    def walk(parser: argparse.ArgumentParser, name: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    yield from walk(child, f"{name} {sub}")
            else:
                yield name, action

    typed = [
        (name, a.option_strings[-1], a.type) for name, a in walk(build_parser(), "blur2video") if a.type is not None
    ]
    assert not [(name, option) for name, option, kind in typed if kind in (int, float)]
    tried = {(" ".join(base[:2] if base[0] == "synth" else base[:1]), option) for base, option, _ in BAD}
    assert {
        (name.removeprefix("blur2video "), option) for name, option, _ in typed
    } == tried  # every checked option has a bad case above


def test_checkpoints_sharing_a_row_name_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """x/ck and y/ck both became the row "ck": one row silently held two models' scores."""
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                "x/ck.safetensors",
                "y/ck.safetensors",
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "--name" in _one_line(capsys.readouterr().err)


def test_issue_repros_in_a_real_process() -> None:
    for argv, option in (
        (["eval", "--checkpoint", "c.safetensors", "--data", "d", "--out", "o", "--samples", "-3"], "--samples"),
        (["ablate", "--data", "d", "--out", "o", "--steps", "-5"], "--steps"),
    ):
        res = _cli(argv)
        assert res.returncode == 2 and option in _one_line(res.stderr)


# ---- items 4 and 9: index rows ---------------------------------------------------------------


def _png(path: Path, value: int, size: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)


def _dataset(root: Path, rows: list) -> Path:
    """A DATASET folder by hand: 3-frame 64-px samples 000000 and 000001, and ``rows`` as the index."""
    for sid in ("000000", "000001"):
        for name in ("blur", "frame_0", "frame_1", "frame_2"):
            _png(root / "samples" / sid / f"{name}.png", hash((sid, name)) % 1000)
    (root / "dataset.json").write_text(json.dumps({"version": 1, "kind": "hand", "frames": 3}))
    (root / "index.jsonl").write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return root


def _row(sid: str, blur: str | None = None, frames: list | None = None) -> dict:
    return {
        "id": sid,
        "blur": blur or f"samples/{sid}/blur.png",
        "frames": frames or [f"samples/{sid}/frame_{j}.png" for j in range(3)],
    }


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """An image outside every dataset: no row may load it."""
    _png(tmp_path / "private" / "secret.png", 7)
    return tmp_path / "private" / "secret.png"


@pytest.mark.parametrize(
    "bad,needle",
    [
        ("absolute", "outside the DATASET folder"),
        ("dotdot", "outside the DATASET folder"),
        ("dotdot-frame", "outside the DATASET folder"),
        ("list", "not a sample object"),
        ("string", "not a sample object"),
        ("no-blur", "no 'blur'"),
        ("blur-number", "no 'blur'"),
        ("no-frames", "'frames'"),
        ("empty-frames", "'frames'"),
        ("frames-numbers", "'frames'"),
        ("frames-string", "'frames'"),
        ("frame-count", "2 frames where the dataset has 3"),
        ("meta-list", "'meta'"),
        ("not-json", "not JSON"),
    ],
)
def test_bad_index_row_is_one_line_naming_it(
    tmp_path: Path, secret: Path, bad: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {
        "absolute": _row("000001", blur=str(secret)),
        "dotdot": _row("000001", blur="../private/secret.png"),
        "dotdot-frame": _row(
            "000001",
            frames=["samples/000001/frame_0.png", "samples/../../private/secret.png", "samples/000001/frame_2.png"],
        ),
        "list": ["samples/000001/blur.png"],
        "string": '"samples/000001/blur.png"',
        "no-blur": {"id": "000001", "frames": _row("000001")["frames"]},
        "blur-number": {**_row("000001"), "blur": 3},
        "no-frames": {"id": "000001", "blur": "samples/000001/blur.png"},
        "empty-frames": {**_row("000001"), "frames": []},
        "frames-numbers": {**_row("000001"), "frames": [1, 2, 3]},
        "frames-string": {**_row("000001"), "frames": "samples/000001/frame_0.png"},
        "frame-count": {**_row("000001"), "frames": _row("000001")["frames"][:2]},
        "meta-list": {**_row("000001"), "meta": [1]},
        "not-json": '{"id": "000001", ',
    }[bad]
    root = _dataset(tmp_path / "ds", [_row("000000"), row])
    with pytest.raises(Blur2VideoError, match="line 2") as err:
        FolderDataset(root)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(tmp_path / "none.safetensors"),
                "--data",
                str(root),
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    line = _one_line(capsys.readouterr().err)
    assert "index.jsonl: line 2" in line and needle in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("link", ["file", "folder"])
def test_symlink_out_of_the_dataset_is_refused_before_reading(
    tmp_path: Path, secret: Path, link: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _dataset(
        tmp_path / "ds", [_row("000001"), _row("000000")]
    )  # the linked sample first: eval stops before any forward pass
    if link == "file":
        (root / "samples" / "000001" / "blur.png").unlink()
        (root / "samples" / "000001" / "blur.png").symlink_to(secret)
    else:
        (root / "samples" / "000001" / "blur.png").rename(tmp_path / "private" / "blur.png")
        for j in range(3):
            (root / "samples" / "000001" / f"frame_{j}.png").rename(tmp_path / "private" / f"frame_{j}.png")
        (root / "samples" / "000001").rmdir()
        (root / "samples" / "000001").symlink_to(tmp_path / "private", target_is_directory=True)
    ds = FolderDataset(root)
    ds[1]
    with pytest.raises(
        Blur2VideoError, match="line 1: samples/000001/blur.png is a link to .*outside the DATASET folder"
    ):
        ds[0]
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.safetensors"
    save_model(ckpt, Blur2Video(ModelConfig(frames=3, base_channels=4, growth=4)))
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(ckpt),
                "--data",
                str(root),
                "--out",
                str(tmp_path / "r"),
                "--batch-size",
                "1",
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    assert "outside the DATASET folder" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "r" / "grid.png").exists()


def test_links_inside_the_dataset_are_fine(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "ds", [_row("000000"), _row("000001", blur="samples/shared/blur.png")])
    (root / "samples" / "shared").symlink_to(root / "samples" / "000000", target_is_directory=True)
    blur, frames = FolderDataset(root)[1]
    assert blur.shape == (3, 64, 64) and frames.shape == (3, 3, 64, 64)


# ---- item 7: shards started together on a new folder -----------------------------------------

SYNTH = [
    "synth",
    "rotation",
    "--source",
    "skimage:coffee",
    "--kind",
    "photo",
    "--samples",
    "4",
    "--size",
    "32",
    "--frames",
    "3",
    "--max-angle",
    "2",
]
TRIALS = 8

# One process per shard runs every trial, imports once, and starts each trial when the test says
# "go" to all four at once, so their claims of each new folder collide.
SHARD_PROCESS = """
import json, sys
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from blur2video.cli import main
import blur2video.synth.api
shard, base, argv = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
for k in iter(lambda: sys.stdin.readline().strip(), ""):
    err = StringIO()
    with redirect_stderr(err), redirect_stdout(StringIO()):
        rc = main(argv + ["--out", f"{base}/trial{k}", "--shard", shard])
    print(json.dumps([rc, err.getvalue()]), flush=True)
"""


def test_shards_started_together_all_succeed(tmp_path: Path) -> None:
    assert main([*SYNTH, "--out", str(tmp_path / "single")]) == 0
    single = _tree(tmp_path / "single")
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SHARD_PROCESS, f"{i}/4", str(tmp_path), json.dumps(SYNTH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(4)
    ]
    try:
        for k in range(TRIALS):
            for p in procs:
                p.stdin.write(f"{k}\n")
                p.stdin.flush()
            results = [json.loads(p.stdout.readline()) for p in procs]
            assert [rc for rc, _ in results] == [0, 0, 0, 0], f"trial {k}: {[err for _, err in results]}"
            trial = _tree(tmp_path / f"trial{k}")
            assert {name: digest for name, digest in trial.items() if ".shard-" not in name} == single
    finally:
        for p in procs:
            p.kill()
            p.wait()


# ---- item 8: nothing written for a bad source; a corrected rerun works -----------------------


def _photo(path: Path, size: tuple[int, int] = (96, 72), fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(skimage.data.coffee()[: size[1], : size[0]]).save(path, format=fmt)
    return path


def _nothing_at(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


def test_photo_too_small_writes_nothing_and_the_corrected_rerun_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _photo(tmp_path / "src" / "a.png")
    _photo(tmp_path / "src" / "small.png", (40, 40))
    args = [
        "synth",
        "rotation",
        "--source",
        str(tmp_path / "src"),
        "--kind",
        "photo",
        "--samples",
        "3",
        "--frames",
        "3",
        "--max-angle",
        "1",
    ]
    out = tmp_path / "out"
    assert main([*args, "--size", "48", "--out", str(out)]) == 2
    assert "small.png: 40x40 photo is too small for --size 48" in _one_line(capsys.readouterr().err)
    assert _nothing_at(out)
    assert main([*args, "--size", "32", "--out", str(out)]) == 0
    assert len((out / "index.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    "fmt,suffix,needle", [("PNG", "png", "cut.png: truncated or unreadable image"), ("JPEG", "jpg", "cut.jpg")]
)
def test_truncated_source_writes_nothing_and_the_repaired_rerun_works(
    tmp_path: Path, fmt: str, suffix: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PNG's header probe passes however much of it is cut (JPEGs are decoded by the probe)."""
    good = _photo(tmp_path / "src" / f"photo.{suffix}", (160, 120), fmt).read_bytes()
    cut = tmp_path / "src" / f"cut.{suffix}"
    cut.write_bytes(good[: len(good) // 2])  # the header (and size) intact, the pixels cut
    out = tmp_path / "out"
    args = [
        "synth",
        "rotation",
        "--source",
        str(tmp_path / "src"),
        "--kind",
        "photo",
        "--samples",
        "4",
        "--frames",
        "3",
        "--size",
        "32",
        "--max-angle",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 2
    assert needle in _one_line(capsys.readouterr().err)
    assert _nothing_at(out)
    cut.write_bytes(good)
    assert main(args) == 0
    assert len((out / "index.jsonl").read_text().splitlines()) == 4


def _skeleton(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], Path]:
    """The folder a run leaves when its first sample fails after the folder was claimed: a
    33-px photo passes the size check for --size 32 but cannot hold the view while it turns."""
    _photo(tmp_path / "src" / "tight.png", (33, 33))
    out = tmp_path / "out"
    args = [
        "synth",
        "rotation",
        "--source",
        str(tmp_path / "src"),
        "--kind",
        "photo",
        "--samples",
        "2",
        "--frames",
        "3",
        "--out",
        str(out),
    ]
    assert main([*args, "--size", "32", "--max-angle", "45"]) == 2
    assert "too small" in _one_line(capsys.readouterr().err)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["dataset.json", "samples"]
    return args, out


def test_rerun_with_other_settings_takes_over_an_empty_skeleton(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, out = _skeleton(tmp_path, capsys)
    assert main([*args, "--size", "16", "--max-angle", "1"]) == 0
    assert json.loads((out / "dataset.json").read_text())["size"] == 16
    assert main([*args, "--size", "16", "--max-angle", "1", "--out", str(tmp_path / "clean")]) == 0
    assert _tree(out) == _tree(tmp_path / "clean")


def test_no_takeover_while_another_writer_holds_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args, out = _skeleton(tmp_path, capsys)
    fd = os.open(out / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # as a live synth run holds it
        before = _tree(out)
        assert main([*args, "--size", "16", "--max-angle", "1"]) == 2
        assert "another synth process is writing it with other settings" in _one_line(capsys.readouterr().err)
        assert _tree(out) == before
    finally:
        os.close(fd)
    assert main([*args, "--size", "16", "--max-angle", "1"]) == 0


def test_folder_with_only_an_empty_samples_folder_is_ours(tmp_path: Path) -> None:
    """What the old writer left when it lost the race: samples/ made, dataset.json not yet."""
    (tmp_path / "out" / "samples").mkdir(parents=True)
    assert (
        main(
            [
                "synth",
                "rotation",
                "--source",
                "skimage:coffee",
                "--kind",
                "photo",
                "--samples",
                "1",
                "--size",
                "32",
                "--frames",
                "3",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(Blur2VideoError, match="not a blur2video dataset"):
        DatasetWriter(tmp_path / "other", "rotation", {"size": 32})
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["notes.txt"] and (
        tmp_path / "other" / "notes.txt"
    ).read_text() == "mine"
