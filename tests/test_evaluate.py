"""Evaluation: metrics against scikit-image, order invariance, report rows, motion error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from blur2video.checkpoints import save_model
from blur2video.cli import main
from blur2video.data.dataset import FolderDataset
from blur2video.evaluate import BLUR_ROW, evaluate
from blur2video.geometry.warp import warp_flow
from blur2video.metrics import psnr, score_sequences, ssim
from blur2video.model.config import ModelConfig
from blur2video.model.network import Blur2Video
from blur2video.motion_truth import rotation_flows
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationSettings

TINY = {"base_channels": 4, "growth": 4}


@pytest.fixture(scope="module")
def rot_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval") / "rot"
    settings = RotationSettings(source_kind="photo", frames=5, size=64, fov_deg=60, max_angle_deg=2.0, seed=5)
    synthesize_rotation("skimage:astronaut,coffee", root, 6, settings)
    return root


@pytest.fixture(scope="module")
def fresh_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "fresh.safetensors"
    save_model(path, Blur2Video(ModelConfig(frames=5, **TINY)))
    return path


def test_psnr_and_ssim_equal_scikit_image_on_real_crops() -> None:
    rng = np.random.default_rng(0)
    photo = skimage.data.astronaut().astype(np.float64) / 255
    for _ in range(3):
        y, x = rng.integers(0, 400, 2)
        a = photo[y : y + 64, x : x + 80]
        b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
        ta, tb = (torch.from_numpy(v).permute(2, 0, 1).float() for v in (a, b))
        assert psnr(tb, ta).item() == pytest.approx(
            peak_signal_noise_ratio(
                ta.permute(1, 2, 0).double().numpy(), tb.permute(1, 2, 0).double().numpy(), data_range=1.0
            ),
            abs=1e-4,
        )
        ref = structural_similarity(
            ta.permute(1, 2, 0).double().numpy(),
            tb.permute(1, 2, 0).double().numpy(),
            channel_axis=2,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert ssim(tb, ta) == pytest.approx(ref, abs=1e-4)
    assert psnr(ta, ta).item() == float("inf")


def test_reversed_perfect_prediction_scores_like_forward() -> None:
    target = torch.rand(2, 5, 3, 16, 16)
    forward = score_sequences(target, target)
    backward = score_sequences(target.flip(1), target)
    assert np.isinf(forward.psnr).all() and np.isinf(backward.psnr).all()
    np.testing.assert_allclose(forward.ssim, backward.ssim)
    assert backward.reversed.all() and not forward.reversed.any()


def test_true_rotation_flow_warps_the_middle_frame_onto_each_frame(rot_data: Path) -> None:
    ds = FolderDataset(rot_data)
    blur, frames = ds[0]
    flows = rotation_flows(ds.meta(0), 5, 64, 64)
    warped = warp_flow(frames[2:3].expand(5, -1, -1, -1), flows)
    err = (warped - frames).abs()[..., 8:-8, 8:-8].mean(dim=(1, 2, 3))
    still = (frames[2:3] - frames).abs()[..., 8:-8, 8:-8].mean(dim=(1, 2, 3))
    assert (err[[0, 4]] < still[[0, 4]] / 4).all(), (err, still)


def test_report_rows_motion_and_files(rot_data: Path, fresh_ckpt: Path, tmp_path: Path) -> None:
    report = evaluate([fresh_ckpt], rot_data, tmp_path / "rep", batch_size=4, device="cpu", quiet=True)
    rows = {r["name"]: r for r in report["rows"]}
    # the blurred-input row against a direct computation
    ds = FolderDataset(rot_data)
    direct = []
    for i in range(len(ds)):
        blur, frames = ds[i]
        per = psnr(blur.expand_as(frames), frames).numpy()
        direct.append(max(per.mean(), per[::-1].mean()))
    assert rows[BLUR_ROW]["psnr_mean"] == pytest.approx(float(np.mean(direct)), abs=1e-4)
    # a fresh network outputs the blur and has identity STNs: same PSNR as the blur, and its
    # motion error is the zero-motion row
    assert rows["fresh"]["psnr_mean"] == pytest.approx(rows[BLUR_ROW]["psnr_mean"], abs=1e-3)
    np.testing.assert_allclose(rows["fresh"]["epe_affine_frames"], report["zero_motion_epe_frames"], atol=1e-4)
    assert report["zero_motion_epe_frames"][0] > 0.5
    # its middle frame is the blur, which reblurs to itself without motion: the fit stays there
    np.testing.assert_allclose(rows["fresh"]["epe_blur_fit_frames"], report["zero_motion_epe_frames"], atol=1e-3)
    out = tmp_path / "rep"
    json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    assert md.startswith("# Evaluation") and "| blurred input |" in md and "## Motion end-point error" in md
    assert "| fresh (global motion fitted to the blur) |" in md
    assert (out / "psnr_vs_rotation.png").exists() and (out / "grid.png").exists()


def test_dataset_without_rotation_metadata_skips_the_plot(rot_data: Path, fresh_ckpt: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "plain"
    shutil.copytree(rot_data, copy)
    lines = [json.loads(line) for line in (copy / "index.jsonl").read_text().splitlines()]
    (copy / "index.jsonl").write_text("".join(json.dumps({**r, "meta": {"kind": "video"}}) + "\n" for r in lines))
    report = evaluate([fresh_ckpt], copy, tmp_path / "rep", device="cpu", quiet=True)
    assert "by_angle" not in report and not (tmp_path / "rep" / "psnr_vs_rotation.png").exists()
    assert any("no rotation magnitudes" in n for n in report["notes"])


def test_mismatched_frames_is_one_line(rot_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = tmp_path / "n3.safetensors"
    save_model(ckpt, Blur2Video(ModelConfig(frames=3, **TINY)))
    assert main(["eval", "--checkpoint", str(ckpt), "--data", str(rot_data), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "restores 3 frames but the data has 5" in err[0]


def test_cross_dataset_note_names_every_streamed_source() -> None:
    from blur2video.evaluate import _stream_source

    assert _stream_source({"kind": "rotation", "source": "skimage:astronaut"}) == "rotation skimage:astronaut"
    assert _stream_source({"kind": "video", "source": "../shared/data/gopro"}) == "video ../shared/data/gopro"
    assert _stream_source({"kind": "scenes", "textures": "skimage:brick"}) == "scenes textures skimage:brick"
    assert _stream_source({"kind": "scenes"}) == "scenes textures bundled photos"
