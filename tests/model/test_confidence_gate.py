"""The confidence gate (model/confidence_gate.py): frames fall back towards the blur where unsure."""

import torch

from blur2video.checkpoints import load_model, save_model
from blur2video.model.confidence_gate import ConfidenceGate
from blur2video.model.config import ModelConfig
from blur2video.model.network import Blur2Video


def test_gate_blends_between_blur_and_frame_and_keeps_the_middle():
    torch.manual_seed(0)
    gate = ConfidenceGate(5)
    blur, frames = torch.rand(2, 3, 40, 56), torch.rand(2, 5, 3, 40, 56)
    with torch.no_grad():
        gated, confidence = gate(blur, frames)
    assert confidence.shape == (2, 5, 40, 56)
    assert torch.equal(gated[:, 2], frames[:, 2]) and torch.all(confidence[:, 2] == 1)
    # each output pixel lies on the segment from the blur to the frame, at the confidence
    expected = blur[:, None] + confidence[:, :, None] * (frames - blur[:, None])
    assert torch.allclose(gated[:, [0, 1, 3, 4]], expected[:, [0, 1, 3, 4]], atol=1e-6)
    assert 0.9 < float(confidence.mean()) < 1.0  # untrained: close to the ungated network


def test_gate_learns_to_distrust_wrong_frames():
    """Frames that are noise where the truth is the blur: minimising the error drives the
    confidence down; frames that are the truth keep it up."""
    torch.manual_seed(1)
    gate = ConfidenceGate(3)
    optimiser = torch.optim.Adam(gate.parameters(), lr=3e-2)
    blur = torch.rand(4, 3, 32, 32)
    wrong = blur[:, None] + 0.3 * torch.randn(4, 3, 3, 32, 32)
    for _ in range(60):
        gated, _ = gate(blur, wrong)
        loss = ((gated - blur[:, None]) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    _, confidence = gate(blur, wrong)
    assert float(confidence[:, [0, 2]].mean().detach()) < 0.2


def test_network_with_gate_round_trips_and_can_skip_it(tmp_path):
    torch.manual_seed(2)
    cfg = ModelConfig.preset("small", frames=3, base_channels=4, growth=4, dense_layers=(1, 1, 1, 1, 1), gate=True)
    model = Blur2Video(cfg).eval()
    blur = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out, raw = model(blur), model(blur, gate=False)
    assert out.confidence is not None and raw.confidence is None
    assert torch.equal(out.frames[:, 1], raw.frames[:, 1])
    expected = blur + out.confidence[:, 0:1] * (raw.frames[:, 0] - blur)
    assert torch.allclose(out.frames[:, 0], expected, atol=1e-6)
    save_model(tmp_path / "g.safetensors", model, {})
    loaded, _ = load_model(tmp_path / "g.safetensors", torch.device("cpu"))
    with torch.no_grad():
        assert torch.equal(loaded(blur).frames, out.frames)
