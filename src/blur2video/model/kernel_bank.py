"""The kernel-bank head: the middle frame as a weighted blend of Wiener deconvolutions of the blur
by a bank of centred straight blur kernels, the weights read from the blur's power spectrum.

Why (docs/design.md section 4): the paper's middle decoder, trained for an hour of CPU, gains
only +0.3 dB on unseen photos, while a Wiener deconvolution with the best straight kernel gains
+1.3. A straight blur of length L along axis a multiplies the spectrum by sinc(L f.u_a), which
leaves stripes across the power spectrum that a small CNN reads far better than the U-Net learns
to deblur. Picking one kernel rings when the guess is off by a pixel; the softmax blend of the
bank's filters is the filter that minimises the expected error over the CNN's uncertainty, so it
deblurs as far as the evidence allows and falls back to the blur (the length-0 kernel) where the
spectrum shows no stripes.

Every kernel is a continuous box along its axis, so its transfer function is real and closed
form; the bank costs no FFT per kernel, and the blend is one FFT of the blur and one back.

Blur varies over a photo (a camera's roll turns the axis from one corner to the next, objects
move on their own), so outside training each tile of the photo (tiles LOCAL_STRIDE apart) gets
its own blend: its logits, pulled a share ``mix`` of the way towards the photo's mean logits (one
tile alone reads less evidence than sixteen), deconvolve a window reaching LOCAL_REACH past the
tile, and the windows are added with sin^2 weights. On the held-out sets this gains 0.1-0.2 dB on
the middle frame over one blend per photo (experiments/README.md); training sees one tile per
crop, where both are the same.
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
LOCAL_MIX = 0.25  # a tile's logits are (1 - mix) its own plus mix the photo's mean (tested 0.25-0.75)
LOCAL_STRIDE = 64  # px between the tiles of the blend per tile
LOCAL_REACH = 16  # px each tile's window reaches past it: windows of 128 px, half overlapping


def hann_2d(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(height, width) separable Hann window, zero at the borders: an FFT then sees a tile without
    the wrap-around edge its opposite borders make, whose spectrum would hide the blur's stripes."""
    return (
        torch.hann_window(height, periodic=False, device=device)[:, None]
        * torch.hann_window(width, periodic=False, device=device)[None]
    )


def log_spectrum(blur: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W): the grey blur's Hann-windowed log power spectrum, centred and
    standardised; a straight blur leaves stripes across it at its axis, spaced by its length."""
    grey = blur.float().mean(1)
    grey = grey - grey.mean((1, 2), keepdim=True)
    h, w = grey.shape[-2:]
    window = hann_2d(h, w, blur.device)
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
    ny, nx = h // tile, w // tile
    grid = blur[..., oy : oy + ny * tile, ox : ox + nx * tile]
    # a reshape, not ``unfold``: the tiles do not overlap, and ONNX exporters take a reshape
    grid = grid.reshape(blur.shape[0], 3, ny, tile, nx, tile).permute(0, 2, 4, 1, 3, 5)
    grid = grid.reshape(blur.shape[0], ny * nx, 3, tile, tile)
    if grid.shape[1] > limit:
        grid = grid[:, torch.linspace(0, grid.shape[1] - 1, limit).round().long()]
    return grid


def strided_starts(n: int, tile: int = TILE, stride: int = TILE) -> list[int]:
    """Starts of whole tiles covering 0..n, ``stride`` apart, the last flush with the end (a fixed
    grid; tiling.tile_starts spreads a restore's tiles evenly instead)."""
    last = max(0, n - tile)
    starts = list(range(0, last + 1, stride))
    return starts if starts[-1] == last else [*starts, last]


def sin2_window(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Length-n weights, positive everywhere, whose copies n/2 apart sum to 1 (sin^2 + cos^2)."""
    i = torch.arange(n, dtype=torch.float32, device=device)
    return torch.sin(torch.pi * (i + 0.5) / n) ** 2


def fft_frequencies(n: int, like: torch.Tensor) -> torch.Tensor:
    """``torch.fft.fftfreq(n)`` on ``like``'s device and dtype, bit for bit, from ops the ONNX
    exporter knows (it has no translation of fftfreq)."""
    i = torch.arange(n, device=like.device, dtype=like.dtype)
    return torch.where(i < (n + 1) // 2, i, i - n) * (1.0 / n)


def box_transfer(lengths: torch.Tensor, angles_deg: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """P lengths and P axes -> (P, height, width): the transfer function of a centred box blur of
    each length along its axis on a height x width periodic grid (real: the box is symmetric).
    A length-0 box is the identity."""
    fy = fft_frequencies(height, lengths)[:, None]
    fx = fft_frequencies(width, lengths)[None]
    a = torch.deg2rad(angles_deg)[:, None, None]
    along = fx * torch.cos(a) + fy * torch.sin(a)  # (P, H, W): frequency along each axis, cycles/px
    k = torch.sinc(lengths[:, None, None] * along)
    # even sizes: the Nyquist row and column stand for +-1/2 alike; averaging k(f) with k(-f) keeps
    # the filter Hermitian, so that its output is real and Parseval holds (filter_errors)
    return (k + torch.roll(torch.flip(k, (-2, -1)), (1, 1), (-2, -1))) / 2


def wiener_gain(transfer: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
    """A real transfer function's Wiener deconvolution gain, conj(K) / (|K|^2 + lambda)."""
    return transfer / (transfer * transfer + lam)


def filter_errors(blur_fft: torch.Tensor, middle_fft: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Every real filter's squared error against the middle frame, from the spectra alone
    (Parseval): blur_fft, middle_fft (B, C, H, W) and filters (K, H * W) -> (B, K), the sum over
    the periodic grid's pixels and channels times H * W."""
    power = blur_fft.abs().pow(2).sum(1).flatten(1)
    cross = (blur_fft * middle_fft.conj()).real.sum(1).flatten(1)
    return power @ filters.pow(2).T - 2 * cross @ filters.T + middle_fft.abs().pow(2).sum((1, 2, 3))[:, None]


class KernelBankDeblur(nn.Module):
    """Blur (B, 3, H, W) and a candidate middle frame (the network's own) -> middle frame: the blend
    of the bank's Wiener deconvolutions of the blur and the candidate, weighted by a spectrum CNN.
    The candidate is there for blur the bank does not model (moving objects, defocus: the GoPro
    and scene streams), where the network's frame is better than any uniform deconvolution. The
    CNN reads up to MAX_TILES tiles and averages its logits over them (a camera shake blurs a photo
    much alike everywhere)."""

    def __init__(self, mix: float = LOCAL_MIX) -> None:
        super().__init__()
        self.mix = mix
        self.register_buffer("lengths", torch.tensor(BANK_LENGTHS), persistent=False)
        self.register_buffer("angles", torch.tensor(BANK_ANGLES, dtype=torch.float32), persistent=False)
        self.register_buffer("lambdas", torch.tensor(BANK_LAMBDAS), persistent=False)
        widths = (32, 32, 64, 64, 128, 128)
        layers: list[nn.Module] = []
        for cin, cout, stride in zip((1,) + widths[:-1], widths, (1, 2, 1, 2, 2, 2), strict=False):
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.2)]
        self.classifier = nn.Sequential(
            *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], self.size + 1)
        )

    @property
    def size(self) -> int:
        """The number of filters (the classifier has one more output: the candidate)."""
        return len(BANK_LAMBDAS) * len(BANK_LENGTHS) * len(BANK_ANGLES)

    def logits(self, blur: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, filters + 1): the CNN's logits (the candidate's last), averaged over the tiles."""
        t = tiles(blur)
        return self.classifier(log_spectrum(t.flatten(0, 1))).view(t.shape[0], t.shape[1], -1).mean(1)

    def weights(self, blur: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> the softmax weight of every filter (B, lambdas, lengths, angles) and of the
        candidate (B,); together they sum to 1."""
        p = torch.softmax(self.logits(blur), 1)
        return p[:, :-1].view(-1, len(BANK_LAMBDAS), len(BANK_LENGTHS), len(BANK_ANGLES)), p[:, -1]

    def forward(self, blur: torch.Tensor, candidate: torch.Tensor | None = None) -> torch.Tensor:
        """The middle frame from the blur and the ``candidate`` (the blur itself when None): one
        blend per tile outside training (:meth:`local`), where the photo holds more than one tile
        and ``mix`` is under 1. Its training objective is losses.kernel_bank_loss."""
        candidate = blur if candidate is None else candidate
        h, w = blur.shape[-2:]
        with torch.autocast(
            blur.device.type, enabled=False
        ):  # FFTs and filter sums in float32 (cuFFT's half needs powers of two)
            if not self.training and self.mix < 1 and h >= TILE and w >= TILE and h * w > TILE * TILE:
                return self.local(blur.float(), candidate.float()).to(blur.dtype)
            filters, kept = self.weights(blur.float())
            return (self.deconvolve(blur, filters) + kept.view(-1, 1, 1, 1) * candidate.float()).to(blur.dtype)

    def local(
        self,
        blur: torch.Tensor,
        candidate: torch.Tensor,
        stride: int = LOCAL_STRIDE,
        reach: int = LOCAL_REACH,
        chunk: int = 32,
    ) -> torch.Tensor:
        """(B, 3, H, W), both at least a tile each way -> the middle frame, every tile of
        :func:`strided_starts` (``stride`` apart) with its own blend over a window reaching ``reach``
        px past it; the windows' sin^2 weights are normalised by their sum, so the photo's borders
        and uneven overlaps count whole."""
        b, _, h, w = blur.shape
        boxes = [(y, x) for y in strided_starts(h, stride=stride) for x in strided_starts(w, stride=stride)]
        t = torch.stack([blur[..., y : y + TILE, x : x + TILE] for y, x in boxes], 1)  # (B, T, 3, TILE, TILE)
        logits = self.classifier(log_spectrum(t.flatten(0, 1))).view(b, len(boxes), -1)
        logits = (1 - self.mix) * logits + self.mix * logits.mean(1, keepdim=True)
        p = torch.softmax(logits, 2)
        filters = p[..., :-1].reshape(b, len(boxes), len(BANK_LAMBDAS), len(BANK_LENGTHS) * len(BANK_ANGLES))
        padded = F.pad(blur, (reach + PAD,) * 4, mode="reflect")  # windows reach past their tiles; FFTs read PAD more
        span = TILE + 2 * reach
        window = sin2_window(span, blur.device)
        total = torch.zeros_like(blur)
        weight = blur.new_zeros(1, 1, h, w)
        for start in range(0, len(boxes), chunk):
            part = boxes[start : start + chunk]
            regions = torch.stack([padded[..., y : y + span + 2 * PAD, x : x + span + 2 * PAD] for y, x in part], 1)
            out = self._filtered(regions.flatten(0, 1), filters[:, start : start + chunk].flatten(0, 1))
            out = out[..., PAD : PAD + span, PAD : PAD + span].reshape(b, len(part), 3, span, span)
            for k, (y, x) in enumerate(part):
                oy, ox = y - reach, x - reach  # the window's corner in the photo (may lie outside it)
                y0, y1, x0, x1 = max(0, oy), min(h, oy + span), max(0, ox), min(w, ox + span)
                win = window[y0 - oy : y1 - oy, None] * window[None, x0 - ox : x1 - ox]
                piece = out[:, k, :, y0 - oy : y1 - oy, x0 - ox : x1 - ox]
                kept = p[:, start + k, -1].view(b, 1, 1, 1)
                total[..., y0:y1, x0:x1] += win * (piece + kept * candidate[..., y0:y1, x0:x1])
                weight[..., y0:y1, x0:x1] += win
        return total / weight

    def filters(self, height: int, width: int) -> torch.Tensor:
        """(filters, height * width): every filter's gain on a periodic grid, in the weights' order."""
        n_angles = len(BANK_ANGLES)
        pairs = torch.arange(len(BANK_LENGTHS) * n_angles, device=self.lengths.device)
        k = box_transfer(self.lengths[pairs // n_angles], self.angles[pairs % n_angles], height, width).flatten(1)
        return torch.cat([wiener_gain(k, lam) for lam in self.lambdas])

    def deconvolve(self, blur: torch.Tensor, weights: torch.Tensor, mass: float = 0.995) -> torch.Tensor:
        """The blur filtered by sum_k weights_k conj(K_k) / (|K_k|^2 + lambda_k), borders reflected.
        Outside training only the heaviest (length, axis) pairs holding ``mass`` of each image's
        filter weight are summed (their total kept): tens of filters instead of 180 at 720p. An
        exported graph has no data-dependent sizes, so there every pair is summed, the dropped ones
        at zero weight: the same output at the cost of the whole bank."""
        h, w = blur.shape[-2:]
        pad = min(PAD, h - 1, w - 1)
        x = F.pad(blur.float(), (pad,) * 4, mode="reflect")
        return self._filtered(x, weights.float().flatten(2), mass)[..., pad : pad + h, pad : pad + w]

    def _filtered(self, x: torch.Tensor, flat: torch.Tensor, mass: float = 0.995) -> torch.Tensor:
        """``x`` (B, 3, H, W) filtered on its periodic grid by the blend of weights ``flat``
        (B, lambdas, lengths x angles); see :meth:`deconvolve`."""
        hp, wp = x.shape[-2:]
        keep = torch.arange(flat.shape[2], device=flat.device)
        if not torch.is_grad_enabled() and mass < 1.0:
            flat = heaviest_pairs(flat, mass)
            if not torch.compiler.is_exporting():
                keep = flat.sum((0, 1)).nonzero()[:, 0]
                if len(keep) == 0:  # no weight on any filter (a tiled restore's tiles): nothing to deconvolve
                    return x.new_zeros(x.shape)
                flat = flat[:, :, keep]
        n_angles = len(BANK_ANGLES)
        lengths, angles = self.lengths[keep // n_angles], self.angles[keep % n_angles]
        gain = x.new_zeros(x.shape[0], hp, wp)
        chunk = max(
            1, min(n_angles, int(2e7 // (hp * wp)))
        )  # a chunk of filters at a time bounds the memory (80 MB a chunk)
        for start in range(0, len(keep), chunk):
            part = slice(start, start + chunk)
            k = box_transfer(lengths[part], angles[part], hp, wp)
            for j, lam in enumerate(self.lambdas):
                gain = gain + torch.einsum("bp,phw->bhw", flat[:, j, part], wiener_gain(k, lam))
        return torch.fft.ifft2(torch.fft.fft2(x) * gain[:, None]).real


def heaviest_pairs(flat: torch.Tensor, mass: float) -> torch.Tensor:
    """Filter weights (B, lambdas, pairs) with every (length, axis) pair outside the heaviest ones
    holding ``mass`` of an image's weight (of any image of the batch) set to zero, the dropped
    weight moved to the kept pairs so each image's total stays."""
    pairs = flat.sum(1)  # (B, pairs)
    total = pairs.sum(1)
    ranked, order = (pairs / total.clamp_min(1e-12)[:, None]).sort(1, descending=True)
    needed = ((ranked.cumsum(1) - ranked) < mass) & (ranked > 0)  # the pairs before the running sum passes ``mass``
    kept = torch.zeros_like(needed).scatter(1, order, needed).any(0)
    flat = flat * kept
    return flat * (total / flat.sum((1, 2)).clamp_min(1e-12))[:, None, None]
