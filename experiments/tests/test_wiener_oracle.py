"""The middle-frame oracle (experiments/wiener_oracle.py): its kernel is the blur's true kernel, and
knowing it sharpens the middle frame beyond the blur (experiments/README.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from middle_frame_table import middle_frame_samples  # noqa: E402
from wiener_oracle import blur_with, centre_kernel, densify, line_displacements, path_kernel, wiener  # noqa: E402

from blur2video.metrics import psnr  # noqa: E402
from blur2video.synth.api import synthesize_rotation  # noqa: E402
from blur2video.synth.rotation import RotationSettings  # noqa: E402

PAD, BORDER = 32, 12


def _inner(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image[BORDER:-BORDER, BORDER:-BORDER], np.float32)).permute(2, 0, 1)


def test_true_kernel_remakes_the_blur_and_its_deconvolution_beats_it(tmp_path: Path) -> None:
    data = tmp_path / "rot"
    synthesize_rotation(
        "skimage:astronaut",
        data,
        4,
        RotationSettings(source_kind="photo", frames=7, size=96, fov_deg=60, max_angle_deg=1.0, seed=3),
    )
    header, samples = middle_frame_samples(data)
    assert header["middle"] == 3 and header["samples"] == 4
    for record, blur, target in samples:
        kernel = centre_kernel(record["meta"], *blur.shape[:2], PAD)
        assert abs(kernel.sum() - 1.0) < 1e-9 and kernel.min() >= 0.0
        middle = target.permute(1, 2, 0).double().numpy()
        remade = blur_with(middle, kernel, PAD)
        # the renderer's own blur, re-made from its middle frame by the kernel: an independent check
        assert float(psnr(_inner(remade), _inner(blur))) > 38.0
        blurred = float(psnr(_inner(blur), _inner(middle)))
        restored = float(psnr(_inner(wiener(blur, kernel, PAD, 0.01)), _inner(middle)))
        assert restored > blurred + 0.5, (restored, blurred)


def test_a_path_through_the_frames_remakes_the_blur_like_every_render(tmp_path: Path) -> None:
    """The --model kernel: the path through the N frames' displacements, joined by straight
    segments, re-makes the blur almost as well as every render's (rotation paths are smooth)."""
    from blur2video.motion_truth import rotation_flows

    data = tmp_path / "rot"
    synthesize_rotation(
        "skimage:astronaut",
        data,
        2,
        RotationSettings(source_kind="photo", frames=7, size=96, fov_deg=60, max_angle_deg=1.5, seed=5),
    )
    _, samples = middle_frame_samples(data)
    for record, blur, target in samples:
        h, w = blur.shape[:2]
        frames = rotation_flows(record["meta"], 7, h, w)[:, :, h // 2, w // 2].double().numpy()
        path = densify(frames, steps=4)
        assert (
            path.shape == (25, 2)
            and np.allclose(path[::4], frames)
            and np.allclose(path[2], (frames[0] + frames[1]) / 2)
        )
        kernel = path_kernel(path, h, w, PAD)
        assert abs(kernel.sum() - 1.0) < 1e-9
        middle = target.permute(1, 2, 0).double().numpy()
        remade = float(psnr(_inner(blur_with(middle, kernel, PAD)), _inner(blur)))
        turned = path[:, ::-1] * np.array([1.0, -1.0])  # the same path turned by 90 degrees: the wrong direction
        wrong = float(psnr(_inner(blur_with(middle, path_kernel(turned, h, w, PAD), PAD)), _inner(blur)))
        assert remade > 40.0 and wrong < remade - 5.0, (remade, wrong)  # measured 49 dB (every render's kernel: 53)


def test_line_displacements_are_a_centred_straight_path() -> None:
    path = line_displacements(6.0, 30.0, points=13)
    assert path.shape == (13, 2) and np.allclose(path.mean(0), 0.0) and np.allclose(path[6], 0.0)
    assert np.isclose(np.linalg.norm(path[-1] - path[0]), 6.0)
    assert np.isclose(np.degrees(np.arctan2(path[-1, 1] - path[0, 1], path[-1, 0] - path[0, 0])), 30.0)


def test_a_straight_kernel_of_the_true_axis_and_length_remakes_the_blur(tmp_path: Path) -> None:
    """--bank: the middle frame of a camera rotation sits at the centre of a nearly straight
    path, so one centred straight kernel of the path's axis and length re-makes the blur."""
    from blur2video.motion_truth import rotation_flows

    data = tmp_path / "rot"
    synthesize_rotation(
        "skimage:astronaut",
        data,
        3,
        RotationSettings(source_kind="photo", frames=7, size=96, fov_deg=60, max_angle_deg=1.0, seed=7),
    )
    _, samples = middle_frame_samples(data)
    for record, blur, target in samples:
        h, w = blur.shape[:2]
        renders = int(record["meta"]["n_renders"])
        flows = rotation_flows(record["meta"], renders, h, w)[:, :, h // 2, w // 2].double().numpy()
        span = flows[-1] - flows[0]
        length, angle = float(np.linalg.norm(span)), float(np.degrees(np.arctan2(span[1], span[0])))
        middle = target.permute(1, 2, 0).double().numpy()
        straight = path_kernel(line_displacements(length, angle), h, w, PAD)
        remade = float(psnr(_inner(blur_with(middle, straight, PAD)), _inner(blur)))
        across = path_kernel(line_displacements(length, angle + 90.0), h, w, PAD)
        wrong = float(psnr(_inner(blur_with(middle, across, PAD)), _inner(blur)))
        assert remade > 38.0 and (length < 1.0 or wrong < remade - 3.0), (remade, wrong, length)
