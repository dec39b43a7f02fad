"""One switch over the engines: every backend restores the frames eager torch restores, a backend
that cannot run says so in one line, and the whole model exports to ONNX."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from blur2video import Restorer, engines
from blur2video.checkpoints import load_model, save_model
from blur2video.cli import main
from blur2video.engines import sessions
from blur2video.engines.export import INPUTS, export_onnx, output_names
from blur2video.errors import Blur2VideoError
from blur2video.model import Blur2Video, ModelConfig
from blur2video.model.baselines import JinSequential
from blur2video.restore import bundled_weights

CPU = torch.device("cpu")
ENGINES = ["onnxruntime", "openvino"]


def _moving(net: Blur2Video) -> Blur2Video:
    """``net`` with its motion heads nudged off zero (where they start), so the warps move things."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "head" in name or "to_image" in name:
                p.add_(0.02 * torch.randn_like(p))
    return net


@pytest.fixture(scope="module")
def model() -> Blur2Video:
    """A small random model with every part an engine must carry: both heads, all warps (one dense
    layer per block: the exporter's time grows with the graph's nodes). Photos 32 high are one pixel
    high at the coarsest level, a size whose warps once stopped the exporter."""
    torch.manual_seed(0)
    config = ModelConfig(frames=3, base_channels=4, growth=4, dense_layers=(1,) * 5, kernel_bank=True, gate=True)
    net = Blur2Video(config).eval()
    return _moving(net)


def _close(got, want) -> None:
    np.testing.assert_allclose(got.frames.numpy(), want.frames.numpy(), atol=1e-4)
    np.testing.assert_allclose(got.confidence.numpy(), want.confidence.numpy(), atol=1e-4)
    np.testing.assert_allclose(got.image_affines.numpy(), want.image_affines.numpy(), atol=1e-5)
    for a, b in zip(got.flows, want.flows, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENGINES)
def test_an_engine_gives_the_models_restoration(model: Blur2Video, name: str) -> None:
    """The photo's pass (the kernel-bank head finishing in torch) and a tile's (the global motion given)."""
    pytest.importorskip(name, reason="pip install 'blur2video[engines]'")
    pytest.importorskip("onnxscript", reason="the ONNX exporter needs onnxscript")
    engine = engines.build(name, model, CPU)
    blur = torch.rand(1, 3, 32, 60, generator=torch.Generator().manual_seed(1))  # one pixel high at 1/32
    with torch.inference_mode():
        want = model(blur)
        affines = want.affines * 1.01
        image_affines = want.image_affines * 0.99
        want_tile = model(blur, affines, image_affines, bank=False)
    _close(engine(blur), want)
    _close(engine(blur, affines, image_affines, bank=False), want_tile)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENGINES)
def test_restore_backend_writes_the_frames_torch_writes(model: Blur2Video, name: str, tmp_path: Path) -> None:
    pytest.importorskip(name, reason="pip install 'blur2video[engines]'")
    pytest.importorskip("onnxscript", reason="the ONNX exporter needs onnxscript")
    save_model(tmp_path / "m.safetensors", model)
    Image.fromarray(skimage.data.coffee()[100:132, 200:260]).save(tmp_path / "cup.png")  # the graphs above
    for backend in ("torch", name):
        argv = ["restore", str(tmp_path / "cup.png"), "--checkpoint", str(tmp_path / "m.safetensors")]
        assert main([*argv, "--out", str(tmp_path / backend), "--format", "png", "--backend", backend]) == 0
    for j in range(3):
        ours = np.asarray(Image.open(tmp_path / name / "cup" / f"frame_{j}.png"), dtype=int)
        torchs = np.asarray(Image.open(tmp_path / "torch" / "cup" / f"frame_{j}.png"), dtype=int)
        assert np.abs(ours - torchs).max() <= 1  # 8-bit rounding of frames within 1e-4


def test_unknown_and_missing_backends_are_one_line(
    model: Blur2Video, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(Blur2VideoError, match="unknown; choose one of auto, torch, onnxruntime, openvino"):
        Restorer(model, {}, CPU, backend="tensorrt")
    monkeypatch.setattr(engines, "AUTO_CPU", "openvino")
    monkeypatch.setattr(sessions, "installed", lambda engine: False)
    with pytest.raises(Blur2VideoError, match=r"openvino package is not installed; pip install 'blur2video\[engines"):
        Restorer(model, {}, CPU, backend="openvino")
    assert Restorer(model, {}, CPU).backend == "torch"  # auto without the engines
    assert main(["restore", "--example", "--out", str(tmp_path / "out"), "--backend", "onnxruntime"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "blur2video: error: --backend onnxruntime: the onnxruntime package is not installed; "
        "pip install 'blur2video[engines]' or use --backend torch"
    ]


def test_an_export_that_fails_is_one_line_naming_the_torch_backend(
    model: Blur2Video, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Whatever stops torch's exporter (one did at 32-pixel sides) is one line, not a traceback."""
    pytest.importorskip("onnxruntime", reason="pip install 'blur2video[engines]'")

    def stopped(*args, **kwargs):
        raise AssertionError("aot_autograd expected to have an entirely functional graph\n(details)")

    monkeypatch.setattr(torch.onnx, "export", stopped)
    monkeypatch.setenv("BLUR2VIDEO_CACHE", str(tmp_path / "cache"))
    save_model(tmp_path / "m.safetensors", model)
    Image.fromarray(skimage.data.coffee()[:40, :50]).save(tmp_path / "cup.png")
    argv = ["restore", str(tmp_path / "cup.png"), "--checkpoint", str(tmp_path / "m.safetensors")]
    assert main([*argv, "--out", str(tmp_path / "out"), "--backend", "onnxruntime"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"blur2video: error: {tmp_path / 'cup.png'}: the network did not export to ONNX for 64x64 inputs "
        "(aot_autograd expected to have an entirely functional graph); use --backend torch"
    ), err
    assert not (tmp_path / "out" / "cup").exists()


def test_auto_takes_the_measured_fastest_engine_on_the_cpu_where_it_is_installed(
    model: Blur2Video, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "AUTO_CPU", "openvino")
    monkeypatch.setattr(sessions, "installed", lambda engine: True)
    assert engines.resolve("auto", model, CPU) == "openvino"
    assert engines.resolve("auto", model, torch.device("cuda")) == "torch"
    assert engines.resolve("auto", JinSequential(ModelConfig(frames=3, base_channels=4, growth=4)), CPU) == "torch"
    with pytest.raises(Blur2VideoError, match="runs on the CPU"):
        engines.resolve("openvino", model, torch.device("cuda"))
    assert engines.build("torch", model, CPU) is model


_MODELS_FREED_OUT_OF_ORDER = """
import gc, signal, subprocess, sys
from pathlib import Path
import torch
from blur2video.engines import sessions

path = Path(sys.argv[1])
torch.onnx.export(torch.nn.Conv2d(3, 3, 3), (torch.rand(1, 3, 16, 16),), str(path), dynamo=False)
first = sessions.open_openvino(path, 1)
second = sessions.open_openvino(path, 1)
del first
gc.collect()
third = sessions.open_openvino(path, 1)
del second, third
gc.collect()
signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler runs on the thread's signal stack
for _ in range(3):
    subprocess.run(["true"], check=True)
print("alive")
"""


@pytest.mark.skipif(not Path("/bin/true").exists(), reason="needs a POSIX `true` to end a child process")
def test_openvino_models_freed_out_of_order_leave_signals_working(tmp_path: Path) -> None:
    """OpenVINO's CPU plugin swaps the thread's signal stack: with a Core per model, models freed out
    of order left an unmapped one, and the next child process to end killed this one (SIGSEGV)."""
    pytest.importorskip("openvino", reason="pip install 'blur2video[engines]'")
    import subprocess
    import sys

    script = tmp_path / "freed.py"
    script.write_text(_MODELS_FREED_OUT_OF_ORDER)
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", str(script), str(tmp_path / "conv.onnx")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and done.stdout.strip() == "alive", (done.returncode, done.stderr[-2000:])


@pytest.mark.slow
def test_the_whole_model_exports_and_onnxruntime_matches_eager_torch(tmp_path: Path) -> None:
    """The whole model, kernel-bank head included, as one graph: the bundled one's architecture
    (every part it switches on) at a small width, 3 frames and one dense layer per block, since the
    exporter's time grows with the graph's nodes (the bundled 7-frame model took 56 s of the suite
    for the same code), on a photo 32 high (one pixel at the coarsest level). In this module so that
    one worker pays the exporter's start."""
    pytest.importorskip("onnxscript", reason="the ONNX exporter needs onnxscript: pip install 'blur2video[engines]'")
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install 'blur2video[engines]'")
    bundled = load_model(bundled_weights())[0].config
    small = replace(bundled, frames=3, base_channels=4, growth=4, dense_layers=(1,) * len(bundled.dense_layers))
    torch.manual_seed(0)
    model = _moving(Blur2Video(replace(small, gate=True)).eval())  # the gate too: every part a graph carries
    blur = torch.rand(1, 3, 32, 60, generator=torch.Generator().manual_seed(0))
    path = export_onnx(model, 32, 60, tmp_path / "whole.onnx", whole=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(zip(output_names(model, whole=True), session.run(None, {INPUTS[0]: blur.numpy()}), strict=True))
    with torch.inference_mode():
        want = model(blur)
    np.testing.assert_allclose(got["scale_5"], want.frames.numpy(), atol=1e-4)  # float rounding, amplified by ~6 layers
    np.testing.assert_allclose(got["affines"], want.affines.numpy(), atol=1e-5)
    np.testing.assert_allclose(got["image_affines"], want.image_affines.numpy(), atol=1e-5)
    for k, flow in enumerate(want.flows):
        np.testing.assert_allclose(got[f"flow_{k}"], flow.numpy(), atol=1e-4)
    np.testing.assert_allclose(got["confidence"], want.confidence.numpy(), atol=1e-4)
