"""Rotation-blur synthesis: the blur is the mean of the renders, the motion in meta is true,
runs are deterministic, resumable and shardable, and bad input gets one clear line."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from tests.conftest import run_main

from blur2video.cli import main
from blur2video.geometry import PinholeCamera, interpolate_orientations
from blur2video.synth.accumulate import accumulate, linear_to_srgb, srgb_to_linear
from blur2video.synth.rotation import LoadedSource, RotationSettings, make_rotation_sample, n_renders_for
from blur2video.synth.sources import discover_sources


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_blur_is_the_mean_of_renders_rebuilt_from_meta(pano_dir: Path) -> None:
    settings = RotationSettings(frames=5, size=48, max_angle_deg=4.0)
    src = LoadedSource(discover_sources(str(pano_dir))[0], settings)
    sample = make_rotation_sample(src, settings, np.random.default_rng(3))
    meta = sample.meta
    start = Rotation.from_quat(meta["view"]["quat_xyzw"])
    motion = Rotation.from_euler("XYZ", meta["euler_deg"], degrees=True)
    assert np.degrees(motion.magnitude()) == pytest.approx(meta["angle_deg"])
    renders = src.pano.render(interpolate_orientations(start, motion, meta["n_renders"]), PinholeCamera(48, 48, 60.0))
    renders = renders.transpose(0, 3, 1, 2)  # (V, h, w, C) to the sample's (V, C, h, w)
    np.testing.assert_allclose(sample.blur, renders.astype(np.float64).mean(0), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(sample.frames, renders[:: meta["render_step"]])
    assert sample.frames.shape == (5, 3, 48, 48)
    np.testing.assert_array_equal(sample.frames[0], renders[0])
    np.testing.assert_array_equal(sample.frames[-1], renders[-1])


def test_n_renders_grows_linearly_and_puts_targets_on_renders() -> None:
    counts = [n_renders_for(a, 7, 8.0) for a in (0.1, 1.0, 2.0, 4.0, 8.0)]
    assert counts == sorted(counts) and counts[0] == 7
    assert all((c - 1) % 6 == 0 for c in counts)
    assert n_renders_for(8.0, 7, 8.0) == pytest.approx(8.0 * 8.0, abs=6)


def test_linear_accumulation_averages_light() -> None:
    x = torch.rand(5, 3, 4, 4, dtype=torch.float64)
    assert torch.allclose(srgb_to_linear(linear_to_srgb(x)), x, atol=1e-9)
    lin = accumulate(x.float(), "linear").double()
    assert torch.allclose(srgb_to_linear(lin), srgb_to_linear(x).mean(0), atol=1e-5)
    assert not torch.allclose(lin, x.mean(0), atol=1e-3)


@pytest.mark.parametrize("kind", ["panorama", "photo"])
def test_rotation_synthesis_never_imports_torch(kind: str, pano_dir: Path, tmp_path: Path) -> None:
    """Its renderer samples with OpenCV: torch's import alone took longer than rendering 24 samples
    (docs/benchmarks.md), so the command must not load it."""
    argv = ["synth", "rotation", "--source", str(pano_dir), "--kind", kind, "--out", str(tmp_path / "d")]
    argv += ["--samples", "2", "--frames", "3", "--size", "32", "--max-angle", "1", "--quiet"]
    probe = f"import sys\nfrom blur2video.cli import main\ncode = main({argv!r})\nprint(code, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "0 False", done.stderr
    assert len((tmp_path / "d" / "index.jsonl").read_text().splitlines()) == 2


def _synth(args: list[str]) -> int:
    return main(["synth", "rotation", *args])


def test_dataset_format_and_determinism(tmp_path: Path, photo_dir: Path) -> None:
    common = [
        "--source",
        str(photo_dir),
        "--kind",
        "photo",
        "--samples",
        "4",
        "--frames",
        "3",
        "--size",
        "48",
        "--max-angle",
        "2",
    ]
    assert _synth([*common, "--out", str(tmp_path / "a")]) == 0
    assert _synth([*common, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    lines = (tmp_path / "a" / "index.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == ["000000", "000001", "000002", "000003"]
    for r in records:
        assert (tmp_path / "a" / r["blur"]).exists() and len(r["frames"]) == 3
        assert {"angle_deg", "axis", "euler_deg", "fov_deg", "view", "n_renders", "source"} <= set(r["meta"])
    header = json.loads((tmp_path / "a" / "dataset.json").read_text())
    assert header["kind"] == "rotation" and header["frames"] == 3 and header["seed"] == 0


def test_shards_write_one_dataset_together(tmp_path: Path, pano_dir: Path) -> None:
    common = ["--source", str(pano_dir), "--samples", "5", "--frames", "3", "--size", "32"]
    assert _synth([*common, "--out", str(tmp_path / "whole")]) == 0
    assert _synth([*common, "--out", str(tmp_path / "sharded"), "--shard", "1/2"]) == 0
    assert not (tmp_path / "sharded" / "index.jsonl").exists()
    assert _synth([*common, "--out", str(tmp_path / "sharded"), "--shard", "0/2"]) == 0
    whole = (tmp_path / "whole" / "index.jsonl").read_bytes()
    assert (tmp_path / "sharded" / "index.jsonl").read_bytes() == whole
    for sid in range(5):
        a, b = (tmp_path / d / "samples" / f"{sid:06d}" / "blur.png" for d in ("whole", "sharded"))
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_dataset(tmp_path: Path, pano_dir: Path) -> None:
    args = ["--source", str(pano_dir), "--samples", "40", "--frames", "7", "--size", "96", "--max-angle", "8"]
    cmd = [sys.executable, "-m", "blur2video", "synth", "rotation", *args]
    out = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(out)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    index = out / "index.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not index.exists() or len(index.read_bytes().splitlines()) < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(index.read_bytes().splitlines())
    assert 5 <= partial < 40, "the run should have been killed half-way"
    # the resume and the reference run in this process: only the kill needs a process of its own
    assert _synth([*args, "--out", str(out), "--quiet"]) == 0
    assert _synth([*args, "--out", str(tmp_path / "clean"), "--quiet"]) == 0
    digest = _tree_digest(out)
    assert digest == _tree_digest(tmp_path / "clean")
    assert not any(name.startswith("samples/.tmp") for name in digest)


def test_torn_index_line_is_repaired_on_resume(tmp_path: Path, pano_dir: Path) -> None:
    common = [
        "--source",
        str(pano_dir),
        "--samples",
        "3",
        "--frames",
        "3",
        "--size",
        "32",
        "--out",
        str(tmp_path / "d"),
    ]
    assert _synth(common) == 0
    index = tmp_path / "d" / "index.jsonl"
    full = index.read_bytes()
    index.write_bytes(full[: len(full) - 40])  # the last line torn mid-write
    assert _synth(common) == 0
    assert index.read_bytes() == full


def _run_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blur2video", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "source_name,extra,message",
    [
        ("missing", [], "does not exist"),
        ("empty", [], "empty"),
        ("panos", ["--frames", "4"], "odd"),
        ("panos", ["--frames", "1"], "odd"),
        ("panos", ["--fov", "180"], "outside (1, 179)"),
        ("panos", ["--fov", "0.5"], "outside (1, 179)"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path, pano_dir: Path, source_name, extra, message) -> None:
    (tmp_path / "empty").mkdir()
    source = tmp_path / source_name
    out = tmp_path / "out"
    res = _run_cli(
        ["synth", "rotation", "--source", str(source), "--out", str(out), "--samples", "2", "--size", "32", *extra]
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("blur2video: error:")
    assert not out.exists() or not any(out.rglob("*.png"))


def test_non_images_are_named(tmp_path: Path, pano_dir: Path) -> None:
    (pano_dir / "notes.txt").write_text("not an image")
    (pano_dir / "broken.png").write_bytes(b"\x89PNG garbage")
    res = _run_cli(["synth", "rotation", "--source", str(pano_dir), "--out", str(tmp_path / "o"), "--samples", "1"])
    assert res.returncode == 2 and "broken.png" in res.stderr and "notes.txt" in res.stderr
    assert not (tmp_path / "o").exists()


def test_non_2to1_panorama_refused_unless_forced(
    tmp_path: Path, photo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["synth", "rotation", "--source", str(photo_dir), "--samples", "1", "--size", "32"]
    res = run_main([*args, "--out", str(tmp_path / "o")], capsys)
    assert res.returncode == 2 and "not a 2:1" in res.stderr and "--force" in res.stderr
    assert run_main([*args, "--out", str(tmp_path / "o2"), "--force"], capsys).returncode == 0


def test_folder_with_other_settings_is_refused(
    tmp_path: Path, pano_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "synth",
        "rotation",
        "--source",
        str(pano_dir),
        "--samples",
        "1",
        "--size",
        "32",
        "--out",
        str(tmp_path / "o"),
    ]
    assert run_main(base, capsys).returncode == 0
    before = _tree_digest(tmp_path / "o")
    res = run_main([*base, "--max-angle", "2"], capsys)
    assert res.returncode == 2 and "other settings" in res.stderr and "max_angle_deg" in res.stderr
    assert _tree_digest(tmp_path / "o") == before


def test_photo_too_small_for_size(tmp_path: Path, photo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run_main(
        [
            "synth",
            "rotation",
            "--source",
            str(photo_dir),
            "--kind",
            "photo",
            "--size",
            "600",
            "--samples",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert res.returncode == 2 and "too small" in res.stderr


def test_skimage_source_works_without_files(tmp_path: Path) -> None:
    assert (
        _synth(
            [
                "--source",
                "skimage:astronaut,coffee",
                "--kind",
                "photo",
                "--samples",
                "2",
                "--size",
                "32",
                "--frames",
                "3",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    records = [json.loads(x) for x in (tmp_path / "s" / "index.jsonl").read_text().splitlines()]
    assert {r["meta"]["source"] for r in records} <= {"skimage:astronaut", "skimage:coffee"}


def test_grey_skimage_photos_become_rgb_and_unknown_names_are_refused() -> None:
    from blur2video.errors import Blur2VideoError
    from blur2video.synth.sources import discover_sources

    refs = discover_sources("skimage:camera,coins")
    images = [r.load() for r in refs]
    assert all(im.shape[2] == 3 and im.dtype == np.float32 for im in images)
    assert np.array_equal(images[0][..., 0], images[0][..., 2])  # grey repeated to RGB
    assert [r.name for r in discover_sources("skimage")][:2] == [
        "skimage:astronaut",
        "skimage:chelsea",
    ]  # colour only by default
    with pytest.raises(Blur2VideoError, match="kodim01"):
        discover_sources("skimage:camera,kodim01")


def test_an_old_opencv_is_refused_before_the_folder_is_made(
    pano_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from blur2video.geometry import sampling

    monkeypatch.setattr(sampling, "EXACT_REMAP", False)
    assert _synth(["--source", str(pano_dir), "--out", str(tmp_path / "d"), "--samples", "1", "--size", "32"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "opencv-python-headless>=5.1" in line and not (tmp_path / "d").exists()


def test_a_source_wider_than_the_renderer_takes_is_refused_before_the_folder_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OpenCV's remap asserts on sides of 32767 px or more: one line naming the photo instead."""
    from PIL import Image

    source = tmp_path / "src"
    source.mkdir()
    Image.new("RGB", (33000, 200)).save(source / "wide.png")
    argv = ["--source", str(source), "--kind", "photo", "--out", str(tmp_path / "d"), "--samples", "1", "--size", "32"]
    assert _synth(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "wide.png: 33000x200 px is more than the renderer's 32766 px a side" in line
    assert not (tmp_path / "d").exists()
