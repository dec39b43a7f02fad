"""The helpers each repeated piece now goes through: the frame count check, the atomic file and
folder writes, the Hann window."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from blur2video.cli import build_parser
from blur2video.conventions import check_frame_count, frame_count_problem
from blur2video.errors import Blur2VideoError
from blur2video.fileio import atomic_file, atomic_folder, atomic_write_bytes, new_file_mode
from blur2video.model.config import ModelConfig
from blur2video.model.kernel_bank import hann_2d
from blur2video.synth.rotation import RotationSettings
from blur2video.synth.scenes import SceneSettings
from blur2video.synth.video import VideoSettings

ODD = re.escape("the number of frames must be odd and at least 3 (3, 5, 7, 9)")


@pytest.mark.parametrize("frames", [3, 5, 7, 9, 31])
def test_odd_counts_from_3_are_frame_counts(frames: int) -> None:
    assert frame_count_problem(frames) is None and check_frame_count(frames) == frames


@pytest.mark.parametrize("frames", [-3, 0, 1, 2, 4, 8])
def test_every_user_of_the_frame_count_says_the_same(frames: int, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Blur2VideoError, match=f"^--frames {frames}: {ODD}"):
        check_frame_count(frames)
    with pytest.raises(Blur2VideoError, match=f"^frames={frames}: {ODD}"):
        ModelConfig(frames=frames)
    for settings in (RotationSettings(frames=frames), VideoSettings(frames=frames), SceneSettings(frames=frames)):
        with pytest.raises(Blur2VideoError, match=f"^--frames {frames}: {ODD}"):
            settings.validate()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["synth", "scenes", "--out", "x", "--samples", "1", "--frames", str(frames)])
    assert re.search(f"{frames}: {ODD}", capsys.readouterr().err)


def test_atomic_folder_replaces_the_earlier_folder_whole(tmp_path: Path) -> None:
    final, tmp = tmp_path / "out", tmp_path / ".tmp-out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    tmp.mkdir()
    (tmp / "leftover.txt").write_text("a killed run's")
    with atomic_folder(tmp, final) as folder:
        assert folder == tmp and list(folder.iterdir()) == []  # the leftover is gone
        (folder / "new.txt").write_text("new")
        assert (final / "old.txt").exists()  # nothing lands before the block ends
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in final.iterdir()] == ["new.txt"]


def test_a_failed_atomic_folder_leaves_the_earlier_one_and_no_temporary(tmp_path: Path) -> None:
    final, tmp = tmp_path / "out", tmp_path / ".tmp-out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_folder(tmp, final) as folder:
        (folder / "half.txt").write_text("half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (final / "old.txt").read_text() == "old"


def test_atomic_folder_asks_its_caller_how_to_remove_and_land(tmp_path: Path) -> None:
    calls: list[str] = []

    def land(done: Path, dest: Path) -> None:
        calls.append(f"land {done.name} {dest.name}")
        os.rename(done, dest)

    with atomic_folder(tmp_path / "t", tmp_path / "f", remove=lambda p: calls.append(f"remove {p.name}"), land=land):
        pass
    assert calls == ["land t f"]  # no leftover: nothing to remove
    with (
        pytest.raises(ValueError),
        atomic_folder(tmp_path / "u", tmp_path / "g", remove=lambda p: calls.append(p.name)),
    ):
        raise ValueError
    assert calls[-1] == "u"


def test_atomic_files_are_whole_with_the_usual_mode_and_leave_nothing_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.json"
    atomic_write_bytes(path, b"one")
    assert path.read_bytes() == b"one" and stat.S_IMODE(path.stat().st_mode) == new_file_mode()
    with pytest.raises(OSError), atomic_file(path) as tmp:
        tmp.write_bytes(b"tw")
        raise OSError("disk full")
    assert path.read_bytes() == b"one" and [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_hann_window_is_the_separable_numpy_window() -> None:
    window = hann_2d(7, 10).numpy()
    np.testing.assert_allclose(window, np.outer(np.hanning(7), np.hanning(10)), atol=1e-7)
    assert window.shape == (7, 10) and window[0].max() == 0 and window[:, 0].max() == 0
