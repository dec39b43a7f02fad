"""The kernel-bank head: the middle frame as a weighted blend of Wiener deconvolutions of the blur
by a bank of centred straight blur kernels, the weights read from the blur's power spectrum.

Why (README "Pretrained model"): the paper's middle decoder, trained for an hour of CPU, gains
only +0.3 dB on unseen photos, while a Wiener deconvolution with the best straight kernel gains
+1.3. A straight blur of length L along axis a multiplies the spectrum by sinc(L f.u_a), which
leaves stripes across the power spectrum that a small CNN reads far better than the U-Net learns
to deblur. Picking one kernel rings when the guess is off by a pixel; the softmax blend of the
bank's filters is the filter that minimises the expected error over the CNN's uncertainty, so it
deblurs as far as the evidence allows and falls back to the blur (the length-0 kernel) where the
spectrum shows no stripes.

Every kernel is a continuous box along its axis, so its transfer function is real and closed
form; the bank costs no FFT per kernel, and the blend is one FFT of the blur and one back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BANK_LENGTHS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 14.0, 16.0)  # px
BANK_ANGLES = tuple(range(0, 180, 15))  # degrees from the x axis
BANK_LAMBDAS = (0.003, 0.01, 0.03)  # Wiener regularisation: conj(K) / (|K|^2 + lambda)
TILE = 96  # the spectrum CNN reads square tiles of this size (the training crop)
MAX_TILES = 16  # tiles read per image: evenly spread over a large photo
PAD = 24  # reflected border around the blur before the FFT (longer than the longest kernel)


def log_spectrum(blur: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W): the grey blur's Hann-windowed log power spectrum, centred and
    standardised; a straight blur leaves stripes across it at its axis, spaced by its length."""
    grey = blur.float().mean(1)
    grey = grey - grey.mean((1, 2), keepdim=True)
    h, w = grey.shape[-2:]
    window = torch.hann_window(h, periodic=False, device=blur.device)[:, None] * torch.hann_window(w, periodic=False, device=blur.device)[None]
    power = torch.fft.fftshift(torch.log(torch.fft.fft2(grey * window).abs() ** 2 + 1e-8), dim=(-2, -1))
    return ((power - power.mean((1, 2), keepdim=True)) / (power.std((1, 2), keepdim=True) + 1e-6))[:, None]


def tiles(blur: torch.Tensor, tile: int = TILE, limit: int = MAX_TILES) -> torch.Tensor:
    """(B, 3, H, W) -> (B, T, 3, tile, tile): a grid of whole tiles (an image smaller than a tile is
    padded up to one), at most ``limit`` of them, evenly spread."""
    h, w = blur.shape[-2:]
    if h < tile or w < tile:
        blur = F.pad(blur, (0, max(0, tile - w), 0, max(0, tile - h)), mode="replicate")
        h, w = blur.shape[-2:]
    oy, ox = (h % tile) // 2, (w % tile) // 2
    grid = blur[..., oy : oy + h // tile * tile, ox : ox + w // tile * tile]
    grid = grid.unfold(2, tile, tile).unfold(3, tile, tile)  # (B, 3, ny, nx, tile, tile)
    grid = grid.permute(0, 2, 3, 1, 4, 5).reshape(blur.shape[0], -1, 3, tile, tile)
    if grid.shape[1] > limit:
        grid = grid[:, torch.linspace(0, grid.shape[1] - 1, limit).round().long()]
    return grid


def box_transfer(lengths: torch.Tensor, angles_deg: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(L,) lengths and (A,) axes -> (L, A, height, width): the transfer function of a centred box
    blur of each length along each axis on a height x width periodic grid (real: the box is
    symmetric). A length-0 box is the identity."""
    fy = torch.fft.fftfreq(height, device=lengths.device)[:, None]
    fx = torch.fft.fftfreq(width, device=lengths.device)[None]
    a = torch.deg2rad(angles_deg)[:, None, None]
    along = fx * torch.cos(a) + fy * torch.sin(a)  # (A, H, W): frequency along each axis, cycles/px
    return torch.sinc(lengths[:, None, None, None] * along)


class KernelBankDeblur(nn.Module):
    """Blur (B, 3, H, W) -> middle frame (B, 3, H, W): the blend of the bank's Wiener filters that a
    spectrum CNN weights. The CNN reads up to MAX_TILES tiles and averages its logits over them
    (a camera shake blurs a photo much alike everywhere)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("lengths", torch.tensor(BANK_LENGTHS), persistent=False)
        self.register_buffer("angles", torch.tensor(BANK_ANGLES, dtype=torch.float32), persistent=False)
        self.register_buffer("lambdas", torch.tensor(BANK_LAMBDAS), persistent=False)
        widths = (32, 32, 64, 64, 128, 128)
        layers: list[nn.Module] = []
        for cin, cout, stride in zip((1,) + widths[:-1], widths, (1, 2, 1, 2, 2, 2)):
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.2)]
        # LayerNorm bounds the features the logits read: unbounded ones let Adam's early steps push the
        # softmax onto one filter, where its gradient vanishes and training stalls (seen at lr 1e-3)
        self.classifier = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(widths[-1]), nn.Linear(widths[-1], self.size))

    @property
    def size(self) -> int:
        return len(BANK_LAMBDAS) * len(BANK_LENGTHS) * len(BANK_ANGLES)

    def weights(self, blur: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, lambdas, lengths, angles): the softmax weight of every filter."""
        t = tiles(blur)
        logits = self.classifier(log_spectrum(t.flatten(0, 1))).view(t.shape[0], t.shape[1], -1).mean(1)
        return torch.softmax(logits, 1).view(-1, len(BANK_LAMBDAS), len(BANK_LENGTHS), len(BANK_ANGLES))

    def forward(self, blur: torch.Tensor) -> torch.Tensor:
        with torch.autocast(blur.device.type, enabled=False):  # FFTs and filter sums in float32 (cuFFT's half needs powers of two)
            return self.deconvolve(blur, self.weights(blur.float())).to(blur.dtype)

    def deconvolve(self, blur: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The blur filtered by sum_k weights_k conj(K_k) / (|K_k|^2 + lambda_k), borders reflected.
        Filters of negligible weight are skipped outside training."""
        h, w = blur.shape[-2:]
        pad = min(PAD, h - 1, w - 1)
        x = F.pad(blur.float(), (pad,) * 4, mode="reflect")
        hp, wp = x.shape[-2:]
        gain = x.new_zeros(blur.shape[0], hp, wp)
        skip = not torch.is_grad_enabled()
        for i, length in enumerate(self.lengths):
            if skip and float(weights[:, :, i].max()) < 1e-5:
                continue
            k = box_transfer(length[None], self.angles, hp, wp)[0]  # (A, hp, wp)
            for j, lam in enumerate(self.lambdas):
                gain = gain + torch.einsum("ba,ahw->bhw", weights[:, j, i].float(), k / (k * k + lam))
        out = torch.fft.ifft2(torch.fft.fft2(x) * gain[:, None]).real
        return out[..., pad : pad + h, pad : pad + w]
