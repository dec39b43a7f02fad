"""The kernel-bank head (model/kernel_bank.py): its box filters are the renderer's blur, its
weights index the bank as documented, and it reads any image size."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from blur2video.checkpoints import load_model, save_model
from blur2video.losses import kernel_bank_loss
from blur2video.metrics import psnr
from blur2video.model.config import ModelConfig
from blur2video.model.kernel_bank import (
    BANK_ANGLES,
    BANK_LAMBDAS,
    BANK_LENGTHS,
    MAX_TILES,
    TILE,
    KernelBankDeblur,
    box_transfer,
    filter_errors,
    log_spectrum,
    tiles,
)
from blur2video.model.network import Blur2Video
from blur2video.motion_truth import rotation_flows
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationSettings

PAD, BORDER = 24, 12


def _box_blur(image: torch.Tensor, length: float, angle: float) -> torch.Tensor:
    """(3, H, W) blurred by the box of ``length`` px along ``angle`` degrees, borders reflected."""
    x = F.pad(image[None].double(), (PAD,) * 4, mode="reflect")
    k = box_transfer(
        torch.tensor([length], dtype=torch.float64), torch.tensor([angle], dtype=torch.float64), *x.shape[-2:]
    )[0]
    return torch.fft.ifft2(torch.fft.fft2(x) * k).real[0, :, PAD:-PAD, PAD:-PAD].float()


def _inner(image: torch.Tensor) -> torch.Tensor:
    return image[:, BORDER:-BORDER, BORDER:-BORDER]


def test_a_box_of_the_true_axis_and_length_remakes_the_renderers_blur(tmp_path: Path) -> None:
    """An independent check of box_transfer: the camera-rotation renderer's blur, re-made from its
    middle frame by the box along the image centre's true path, and not by the box turned 90 degrees.
    The renderer averages n views spread over the path's span L, whose spread is that of a
    continuous box of length L sqrt((n + 1) / (n - 1))."""
    data = tmp_path / "rot"
    synthesize_rotation(
        "skimage:astronaut",
        data,
        3,
        RotationSettings(source_kind="photo", frames=7, size=96, fov_deg=60, max_angle_deg=1.0, seed=7),
    )
    records = [json.loads(line) for line in (data / "index.jsonl").read_text().splitlines()]
    from blur2video.fileio import read_image

    for record in records:
        blur = torch.from_numpy(read_image(data / record["blur"])).permute(2, 0, 1)
        middle = torch.from_numpy(read_image(data / record["frames"][3])).permute(2, 0, 1)
        renders = int(record["meta"]["n_renders"])
        path = rotation_flows(record["meta"], renders, 96, 96)[:, :, 48, 48].double()
        span = path[-1] - path[0]
        length = float(span.norm()) * math.sqrt((renders + 1) / max(renders - 1, 1))
        angle = math.degrees(math.atan2(float(span[1]), float(span[0])))
        remade = float(psnr(_inner(_box_blur(middle, length, angle)), _inner(blur)))
        turned = float(psnr(_inner(_box_blur(middle, length, angle + 90.0)), _inner(blur)))
        assert remade > 45.0 and (length < 1.0 or turned < remade - 8.0), (
            remade,
            turned,
            length,
        )  # measured 51-53 and 29-43


def test_one_hot_weights_pick_their_filter() -> None:
    """weights[b, lambda, length, angle]: the length-0 box is the identity, so its filter scales by
    1 / (1 + lambda); the box that blurred an image deconvolves it far better than the blur."""
    head = KernelBankDeblur()
    image = torch.rand(1, 3, 64, 80)
    for j, lam in enumerate(BANK_LAMBDAS):
        w = torch.zeros(1, len(BANK_LAMBDAS), len(BANK_LENGTHS), len(BANK_ANGLES))
        w[0, j, 0, 5] = 1.0
        assert torch.allclose(head.deconvolve(image, w), image / (1 + lam), atol=1e-5)
    import skimage.data

    photo = torch.from_numpy(skimage.data.camera()[200:296:1, 200:296]).float().div(255).expand(3, -1, -1)
    i, a = BANK_LENGTHS.index(6.0), BANK_ANGLES.index(45)
    blurred = _box_blur(photo, 6.0, 45.0)
    w = torch.zeros(1, len(BANK_LAMBDAS), len(BANK_LENGTHS), len(BANK_ANGLES))
    w[0, 0, i, a] = 1.0
    restored = head.deconvolve(blurred[None], w)[0]
    assert float(psnr(_inner(restored), _inner(photo))) > float(psnr(_inner(blurred), _inner(photo))) + 5.0


def test_tiles_cover_any_size_up_to_the_limit() -> None:
    assert tiles(torch.rand(2, 3, 40, 70)).shape == (2, 1, 3, TILE, TILE)  # padded up to one tile
    grid = torch.arange(192 * 288, dtype=torch.float32).view(1, 1, 192, 288).expand(1, 3, -1, -1)
    t = tiles(grid)
    assert t.shape == (1, 6, 3, TILE, TILE) and torch.equal(t[0, 4], grid[0, :, 96:192, 96:192])
    assert tiles(torch.rand(1, 3, 736, 1280)).shape[1] == MAX_TILES


def test_the_spectrum_shows_a_blurs_axis() -> None:
    """A horizontal blur (four shifted copies averaged) damps the high horizontal frequencies
    (columns far from the centre), not the vertical ones."""
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.random((1, 3, 64, 64), dtype=np.float32))
    smeared = (image + image.roll(1, -1) + image.roll(2, -1) + image.roll(3, -1)) / 4
    spectrum = log_spectrum(smeared)[0, 0]
    assert spectrum[32, 40:].mean() < spectrum[40:, 32].mean() - 1.0


def test_the_model_takes_its_middle_frame_from_the_head_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Blur2Video(ModelConfig(frames=3, base_channels=4, growth=4, kernel_bank=True)).eval()
    blur = torch.rand(1, 3, 70, 100)
    with torch.no_grad():
        out = model(blur)
        x, _, own = model.middle_path(blur)
        direct = model.kernel_bank(x, own[-1])[..., :70, :100]
    assert out.frames.shape == (1, 3, 3, 70, 100) and torch.allclose(out.frames[:, 1], direct, atol=1e-5)
    save_model(tmp_path / "m.safetensors", model)
    loaded, _ = load_model(tmp_path / "m.safetensors")
    assert loaded.config.kernel_bank
    with torch.no_grad():
        assert torch.allclose(loaded(blur).frames, out.frames, atol=1e-5)


def test_the_mse_blend_finds_the_blurs_axis_and_length() -> None:
    """Free weights fitted to one box-blurred photo by the training loss (MSE of the deconvolution)
    gather on the filters of the true axis and length: what the head's CNN learns to predict."""
    import skimage.data

    photo = torch.from_numpy(np.asarray(skimage.data.astronaut()[100:164, 200:264], np.float32) / 255).permute(2, 0, 1)
    blurred = _box_blur(photo, 6.0, 45.0)[None]
    head = KernelBankDeblur()
    logits = torch.zeros(1, head.size, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.2)
    for _ in range(100):
        weights = torch.softmax(logits, 1).view(1, len(BANK_LAMBDAS), len(BANK_LENGTHS), len(BANK_ANGLES))
        loss = (head.deconvolve(blurred, weights) - photo).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    weights = weights.detach()[0].sum(0)  # (lengths, angles)
    length, angle = np.unravel_index(int(weights.argmax()), weights.shape)
    assert BANK_ANGLES[angle] == 45 and BANK_LENGTHS[length] in (5.0, 6.0, 7.0), (length, angle)
    assert weights[:, BANK_ANGLES.index(45)].sum() > 0.6  # measured 0.7 (the rest on the neighbouring axes)
    with torch.no_grad():
        restored = head.deconvolve(
            blurred, torch.softmax(logits, 1).view(1, len(BANK_LAMBDAS), len(BANK_LENGTHS), len(BANK_ANGLES))
        )[0]
    assert (
        float(psnr(_inner(restored), _inner(photo))) > float(psnr(_inner(blurred[0]), _inner(photo))) + 2.5
    )  # measured +3.7


def test_filter_errors_match_each_filters_output() -> None:
    """The training labels' per-filter errors (from the spectra, by Parseval) against filtering
    each image in the pixel domain and summing the squared error directly."""
    torch.manual_seed(0)
    blur, middle = torch.rand(2, 3, 20, 24).double(), torch.rand(2, 3, 20, 24).double()
    filters = KernelBankDeblur().double().filters(20, 24)[[0, 40, 333, 539]]
    fast = filter_errors(torch.fft.fft2(blur), torch.fft.fft2(middle), filters)
    for k, gain in enumerate(filters):
        out = torch.fft.ifft2(torch.fft.fft2(blur) * gain.view(20, 24)).real
        direct = (out - middle).pow(2).sum((1, 2, 3)) * 20 * 24
        assert torch.allclose(fast[:, k], direct, rtol=1e-9)


def test_training_losses_fall_back_to_the_blend_and_label_the_true_filter() -> None:
    """kernel_bank_loss: the MSE is the deconvolution's, and the cross-entropy's label favours the
    box that made the blur."""
    import skimage.data

    photo = torch.from_numpy(np.asarray(skimage.data.astronaut()[100:196, 200:296], np.float32) / 255).permute(2, 0, 1)[
        None
    ]
    blurred = _box_blur(photo[0], 6.0, 45.0)[None]
    head = KernelBankDeblur()
    terms = kernel_bank_loss(head, blurred, blurred, photo)  # the blur as the candidate
    with torch.no_grad():
        assert torch.isclose(terms["middle_mse"], (head(blurred) - photo).pow(2).mean(), rtol=1e-4)
    window = torch.hann_window(96, periodic=False)[:, None] * torch.hann_window(96, periodic=False)[None]
    errors = filter_errors(torch.fft.fft2(blurred * window), torch.fft.fft2(photo * window), head.filters(96, 96))
    _, length, angle = np.unravel_index(int(errors.argmin()), (len(BANK_LAMBDAS), len(BANK_LENGTHS), len(BANK_ANGLES)))
    assert (
        BANK_LENGTHS[length] == 6.0 and BANK_ANGLES[angle] == 45
    )  # on the reflect-padded grid it was length 1: the mirrored border


def test_the_candidate_takes_its_weight() -> None:
    """The classifier's last output weights the candidate (the network's own middle frame): all of
    it gives the candidate back, none of it the filters' blend alone."""
    head = KernelBankDeblur().eval()
    blur, candidate = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    last = head.classifier[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-30.0)
        last.bias[-1] = 30.0
        assert torch.allclose(head(blur, candidate), candidate, atol=1e-5)
        last.bias[-1] = -60.0
        filters, kept = head.weights(blur)
        assert float(kept.max()) < 1e-12 and torch.allclose(
            head(blur, candidate), head.deconvolve(blur, filters), atol=1e-5
        )
        assert torch.equal(
            head.deconvolve(blur, torch.zeros_like(filters)), torch.zeros_like(blur)
        )  # a tiled restore's tiles


def test_local_blends_of_one_filter_everywhere_are_the_global_deconvolution() -> None:
    """With the same blend in every tile (a classifier that ignores its input), the windows of
    the local mode add up to the one-blend deconvolution of the whole photo: its windows hold
    enough context that no seam shows."""
    import skimage.data

    head = KernelBankDeblur().eval()
    last = head.classifier[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        last.bias[1 * len(BANK_ANGLES) + 3] = 8.0  # mostly one filter, lambda 0.003, the rest spread thin
    photo = torch.from_numpy(skimage.data.astronaut()[40:240, 60:310].copy()).permute(2, 0, 1).float() / 255
    blur, candidate = _box_blur(photo, 4.0, 30.0)[None], photo[None]
    with torch.no_grad():
        filters, kept = head.weights(blur)
        whole = head.deconvolve(blur, filters, mass=1.0) + kept.view(-1, 1, 1, 1) * candidate
        local = head(blur, candidate)
    assert local.shape == blur.shape
    inner = (slice(None), slice(None), slice(PAD, -PAD), slice(PAD, -PAD))
    assert float((local - whole)[inner].abs().max()) < 0.02
    assert float(psnr(local[inner][0], whole[inner][0])) > 45


def test_the_local_mode_deblurs_each_half_along_its_own_axis() -> None:
    """The bundled head on a photo blurred along x on its left half and along y on its right: the
    local mode gains over the blur on both halves, more than one blend for the whole photo."""
    import skimage.data

    model, _ = load_model(Path(__file__).parents[2] / "src" / "blur2video" / "weights" / "demo.safetensors")
    head = model.kernel_bank
    photo = torch.from_numpy(skimage.data.astronaut()[100:292, 64:448].copy()).permute(2, 0, 1).float() / 255
    half = photo.shape[-1] // 2
    blur = torch.cat([_box_blur(photo, 7.0, 0.0)[..., :half], _box_blur(photo, 7.0, 90.0)[..., half:]], -1)[None]
    with torch.no_grad():
        filters, kept = head.weights(blur)
        whole = head.deconvolve(blur, filters) + kept.view(-1, 1, 1, 1) * blur
        local = head(blur, blur)

    def gain(img: torch.Tensor, side: slice) -> float:
        box = (slice(None), slice(BORDER, -BORDER), side)
        return float(psnr(img[0][box], photo[box]) - psnr(blur[0][box], photo[box]))

    left, right = slice(BORDER, half - 48), slice(half + 48, -BORDER)  # away from the seam between the blurs
    assert gain(local, left) > 4.0 and gain(local, right) > 4.0, (gain(local, left), gain(local, right))
    assert gain(local, left) + gain(local, right) > gain(whole, left) + gain(whole, right) + 5.0
