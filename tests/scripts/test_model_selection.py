"""Choosing and bundling a checkpoint (scripts/bundle_model.py --average, scripts/validate_checkpoints.py):
the averaged weights are the mean of the last K checkpoints, the package's model is replaced only
when asked to, and the larger validation scores each checkpoint per stream from the trainer's own
validation stream, or on the samples a run trained on a DATASET folder held out."""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import blur2video
from blur2video.checkpoints import read_metadata
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationSettings
from blur2video.train import train
from blur2video.train_config import resolve

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
STREAMS = [
    {"kind": "scenes", "size": 32, "textures": "skimage:camera"},
    {
        "kind": "rotation",
        "source": "skimage:astronaut",
        "source_kind": "photo",
        "size": 32,
        "max_angle_deg": 1.0,
        "order_invariant": True,
    },
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = resolve(
        None,
        [
            {
                "model": {"frames": 3, "base_channels": 4, "growth": 4},
                "data": {"stream": STREAMS, "samples_per_epoch": 8, "val_samples": 4},
                "train": {
                    "batch_size": 2,
                    "crop": 32,
                    "workers": 0,
                    "steps": 6,
                    "checkpoint_every": 2,
                    "keep_checkpoints": 10,
                    "lr": 1e-3,
                },
            }
        ],
    )
    train(cfg, out, device="cpu", quiet=True)
    return out


@pytest.fixture(scope="module")
def dataset_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run trained on a DATASET folder (12 samples, N = 3; 3 held out for validation)."""
    root = tmp_path_factory.mktemp("data")
    settings = RotationSettings(source_kind="photo", frames=3, size=32, fov_deg=60, max_angle_deg=2.0, seed=3)
    synthesize_rotation("skimage:astronaut", root / "rot3", 12, settings)
    cfg = resolve(
        None,
        [
            {
                "model": {"base_channels": 4, "growth": 4},
                "data": {"path": str(root / "rot3")},
                "train": {"batch_size": 3, "crop": 32, "workers": 0, "steps": 4, "val_fraction": 0.25},
            }
        ],
    )
    train(cfg, root / "run", device="cpu", quiet=True)
    return root / "run"


def _script(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python scripts/NAME ARGS`` in a fresh process (for another copy of the package)."""
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=300, env=env
    )


def _script_here(name: str, *args: str) -> subprocess.CompletedProcess:
    """``python scripts/NAME ARGS`` run in this process (a fresh one costs 5 s of imports): its exit
    code and what it printed; torch's thread count is put back after."""
    threads, out, err, code = torch.get_num_threads(), io.StringIO(), io.StringIO(), 0
    argv, sys.argv = sys.argv, [str(SCRIPTS / name), *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(SCRIPTS / name), run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)
    return subprocess.CompletedProcess([name, *args], code, out.getvalue(), err.getvalue())


@pytest.fixture
def package_copy(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A copy of the package whose bundled model is a stand-in file, and the environment that
    imports it: a regression here overwrites the stand-in, never the real bundled model."""
    source = Path(blur2video.__file__).parent
    shutil.copytree(
        source, tmp_path / "pkg" / "blur2video", ignore=shutil.ignore_patterns("__pycache__", "*.safetensors")
    )
    stand_in = tmp_path / "pkg" / "blur2video" / "weights" / "demo.safetensors"
    stand_in.write_bytes(b"the bundled model")
    return {**os.environ, "PYTHONPATH": str(tmp_path / "pkg")}, stand_in


def test_bundling_never_replaces_the_package_model_unasked(run: Path, package_copy: tuple) -> None:
    env, stand_in = package_copy
    done = _script("bundle_model.py", str(run), env=env)
    assert done.returncode == 2 and "--into-package" in done.stderr and "--out" in done.stderr, done.stderr
    assert stand_in.read_bytes() == b"the bundled model"
    done = _script("bundle_model.py", str(run), "--into-package", env=env)
    assert done.returncode == 0, done.stderr
    assert read_metadata(stand_in)["train_step"] == "6"


def test_average_is_the_mean_of_the_last_checkpoints(run: Path, tmp_path: Path) -> None:
    done = _script_here(
        "bundle_model.py",
        str(run),
        "--from",
        "step-00000006",
        "--average",
        "2",
        "--out",
        str(tmp_path / "avg.safetensors"),
    )
    assert done.returncode == 0, done.stderr
    a, b = (load_file(str(run / "checkpoints" / f"step-0000000{s}" / "model.safetensors")) for s in (4, 6))
    avg = load_file(str(tmp_path / "avg.safetensors"))
    moved = [k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k])]
    assert moved, "the two checkpoints should differ"
    for k in moved:
        torch.testing.assert_close(avg[k].float(), ((a[k] + b[k]) / 2).half().float())
    assert json.loads(read_metadata(tmp_path / "avg.safetensors")["averaged_checkpoints"]) == [
        "step-00000004",
        "step-00000006",
    ]
    too_many = _script_here("bundle_model.py", str(run), "--average", "9", "--out", str(tmp_path / "x.safetensors"))
    assert too_many.returncode == 2 and "only 3 checkpoints" in too_many.stderr


def test_validation_scores_every_checkpoint_per_stream(run: Path) -> None:
    last = run / "checkpoints" / "step-00000006" / "model.safetensors"
    done = _script_here("validate_checkpoints.py", str(run), "--samples", "8", "--threads", "1", "--also", str(last))
    assert done.returncode == 0, done.stderr
    report = json.loads((run / "validation.json").read_text())
    assert [r["checkpoint"] for r in report["rows"]] == [
        "step-00000002",
        "step-00000004",
        "step-00000006",
        "model.safetensors",
    ]
    assert report["rows"][-1]["per_stream_gain_db"] == report["rows"][-2]["per_stream_gain_db"]
    assert sum(report["items_per_stream"].values()) == report["samples"] == 8
    for r in report["rows"]:
        assert set(r["per_stream_gain_db"]) == set(report["items_per_stream"])
        weights = [report["items_per_stream"][k] for k in r["per_stream_gain_db"]]
        pooled = sum(w * g for w, g in zip(weights, r["per_stream_gain_db"].values(), strict=False)) / sum(weights)
        assert r["gain_db"] == pytest.approx(pooled, abs=1e-6)
    assert report["best"] == max(report["rows"], key=lambda r: r["gain_db"])["checkpoint"]


def test_validation_scores_a_run_trained_on_a_dataset_folder(dataset_run: Path) -> None:
    done = _script_here("validate_checkpoints.py", str(dataset_run), "--samples", "8", "--threads", "1")
    assert done.returncode == 0, done.stderr
    report = json.loads((dataset_run / "validation.json").read_text())
    assert report["items_per_stream"] == {"dataset:rot3": 3} and report["samples"] == 3  # the 3 held out
    assert [r["checkpoint"] for r in report["rows"]] == ["step-00000003", "step-00000004"]
    for r in report["rows"]:
        assert r["per_stream_gain_db"] == {"dataset:rot3": pytest.approx(r["gain_db"])}


def test_validation_refuses_what_it_cannot_score_in_one_line(run: Path, tmp_path: Path) -> None:
    missing = _script_here("validate_checkpoints.py", str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "not a training run" in missing.stderr
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes((run / "model.safetensors").read_bytes()[:3000])
    truncated = _script_here("validate_checkpoints.py", str(run), "--samples", "4", "--also", str(cut))
    assert truncated.returncode == 2 and truncated.stderr.count("\n") == 1 and "truncated" in truncated.stderr


@pytest.mark.parametrize(
    "script",
    ["bundle_model.py", "validate_checkpoints.py", "paper_results.py", "training_curve.py", "make_gallery.py"],
)
def test_every_argument_of_the_scripts_says_what_it_is(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Their --help listed arguments bare (``run``, ``--samples``, ``--data``, ``--out``, ...)."""
    import argparse

    parsers: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        parsers.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    namespace: dict = {"__name__": "not_main", "__file__": str(SCRIPTS / script)}
    exec(compile((SCRIPTS / script).read_text(), script, "exec"), namespace)
    with pytest.raises(SystemExit):
        namespace["main"]()
    assert not [a.dest for a in parsers[0]._actions if not a.help]
