"""The middle-frame probes (experiments/middle_frame_probes.py) run end to end on tiny data, score
against the blur, and refuse what they cannot run in one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from middle_frame_probes import doubled_angle  # noqa: E402

from blur2video.synth.api import synthesize_rotation  # noqa: E402
from blur2video.synth.rotation import RotationSettings  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "middle_frame_probes.py"


def _rotation(path: Path, samples: int, size: int, seed: int) -> Path:
    synthesize_rotation(
        "skimage:astronaut",
        path,
        samples,
        RotationSettings(source_kind="photo", frames=3, size=size, fov_deg=60, max_angle_deg=1.0, seed=seed),
    )
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--threads", "1"], capture_output=True, text=True, timeout=300
    )


def test_axis_length_learns_from_a_rotation_dataset_and_deblurs_with_its_guess(tmp_path: Path) -> None:
    train, held = _rotation(tmp_path / "train", 8, 32, 1), _rotation(tmp_path / "held", 2, 64, 2)
    done = _run(
        "axis-length", str(held), "--train", str(train), "--steps", "2", "--every", "1", "--shrink", "1.0", "0.5"
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["probe"] == "axis-length" and math.isfinite(lines[0]["blur_middle_psnr"])
    assert [line["step"] for line in lines[1:3]] == [1, 2] and all(line["error_px"] >= 0 for line in lines[1:3])
    rows = lines[-6:]
    assert [(row["wiener_lam"], row["length_scale"]) for row in rows] == [
        (lam, k) for lam in (0.01, 0.03, 0.1) for k in (1.0, 0.5)
    ]
    assert all(math.isfinite(row["heldout_middle_psnr"]) for row in rows)


def test_plain_cnn_trains_on_a_config_s_streams(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(
        "[model]\nframes = 3\n[train]\ncrop = 32\nworkers = 0\n[data]\nsamples_per_epoch = 8\nval_samples = 4\n"
        '[[data.stream]]\nkind = "rotation"\nsource = "skimage:astronaut"\nsource_kind = "photo"\n'
        "fov_deg = 60.0\nmax_angle_deg = 1.0\nsize = 32\n"
    )
    held = _rotation(tmp_path / "held", 2, 32, 3)
    done = _run("plain-cnn", str(held), "--config", str(config), "--steps", "2", "--every", "1")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    # the correction starts at zero: before training the probe scores exactly the blur
    assert lines[1]["step"] == 0 and abs(lines[1]["heldout_middle_psnr"] - lines[0]["blur_middle_psnr"]) < 1e-3
    assert lines[-1]["step"] == 2


def test_refusals_are_one_line(tmp_path: Path) -> None:
    held = _rotation(tmp_path / "held", 1, 48, 4)
    missing = _run("axis-length", str(held))
    assert (
        missing.returncode == 2 and "needs --train" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    )
    train = _rotation(tmp_path / "train", 2, 32, 5)
    untiled = _run("axis-length", str(held), "--train", str(train))
    assert (
        untiled.returncode == 2 and "32-px squares" in untiled.stderr and len(untiled.stderr.strip().splitlines()) == 1
    )
    from blur2video.synth.api import synthesize_scenes
    from blur2video.synth.scenes import SceneSettings

    scenes = tmp_path / "scenes"
    synthesize_scenes(scenes, 1, SceneSettings(frames=3, size=32, seed=1))
    for args in ((str(scenes), "--train", str(train)), (str(held), "--train", str(scenes))):
        other = _run("axis-length", *args)
        assert (
            other.returncode == 2
            and "needs rotation blur" in other.stderr
            and len(other.stderr.strip().splitlines()) == 1
        )
    nothing = _run("plain-cnn", str(tmp_path / "absent"))
    assert nothing.returncode == 2 and len(nothing.stderr.strip().splitlines()) == 1


def test_the_axis_length_target_ignores_the_order() -> None:
    assert np.allclose(doubled_angle(3.0, 4.0), doubled_angle(-3.0, -4.0))
    assert np.allclose(doubled_angle(2.0, 0.0), (2.0, 0.0)) and np.allclose(
        doubled_angle(0.0, 2.0), (-2.0, 0.0)
    )  # 90 degrees apart: opposite
