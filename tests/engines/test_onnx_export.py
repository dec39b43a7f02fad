"""The whole bundled model, kernel-bank head included, exports to ONNX, and ONNX Runtime's outputs
match eager torch's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from blur2video.checkpoints import load_model
from blur2video.engines.export import INPUTS, export_onnx, output_names
from blur2video.restore import bundled_weights

pytest.importorskip("onnxscript", reason="the ONNX exporter needs onnxscript: pip install 'blur2video[engines]'")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install 'blur2video[engines]'")


@pytest.mark.slow
def test_the_whole_bundled_model_exports_and_onnxruntime_matches_eager_torch(tmp_path: Path) -> None:
    model, _ = load_model(bundled_weights())
    blur = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    path = export_onnx(model, 64, 96, tmp_path / "whole.onnx", whole=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(zip(output_names(model, whole=True), session.run(None, {INPUTS[0]: blur.numpy()}), strict=True))
    with torch.inference_mode():
        want = model(blur)
    np.testing.assert_allclose(got["scale_5"], want.frames.numpy(), atol=1e-4)  # float rounding, amplified by ~6 layers
    np.testing.assert_allclose(got["affines"], want.affines.numpy(), atol=1e-5)
    np.testing.assert_allclose(got["image_affines"], want.image_affines.numpy(), atol=1e-5)
    for k, flow in enumerate(want.flows):
        np.testing.assert_allclose(got[f"flow_{k}"], flow.numpy(), atol=1e-4)
