"""Blur2Video: the whole network of paper Fig. 2, restoring N frames and their motion in one pass.

Data flow (B = batch, F = N - 1 non-middle frames, E_k at 1/2^k scale):

    blur (B,3,H,W) -- pad to a multiple of 32 --> Encoder --> E_1 .. E_5
    E_1..E_5, blur --> middle decoder --> middle image at 1/32 .. 1 (--> refine block)
    (kernel_bank, not in the paper: the full-scale middle frame returned is the kernel-bank head's)
    (gate, not in the paper: the full-scale non-middle frames fall back towards the blur where unsure)
    for every level k, the motion of all F frames at once:
        FTN_k(E_k)  = [STN warp of E_k ; LW warp of E_k]               (B, F, C', h, w)   (Eq. 1)
        ITN_k(mid_k) = STN warp of the middle image at that scale        (B, F, 3, h, w)
    for every frame j: [FTN_k[j], ITN_k[j], E_k] per level --> decoder D_j --> frame j at 1/32 .. 1
                                                         (Eq. 2, decode_non_middle_frame)
    --> crop back to H, W; insert the middle frame at index N // 2

No non-middle frame depends on another, only on the shared encoder and the middle image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import RefineBlock, image_pyramid
from .confidence_gate import ConfidenceGate
from .config import LEVELS, ModelConfig
from .decoders import UNetDecoder
from .encoder import Encoder
from .kernel_bank import KernelBankDeblur
from .reblur_gate import blend_towards_blur, reblur_confidence, trust_middle
from .transformers import FeatureTransformer, ImageTransformer


@dataclass
class Restoration:
    """What the network returns.

    frames:         (B, N, 3, H, W) full-scale frames, index N // 2 the middle.
    scales:         images at every scale, coarse (1/32) to fine (1), each (B, N, 3, h, w).
    affines:        (B, N, 5, 2, 3) FTN affine per frame and encoder level (identity for the middle).
    image_affines:  (B, N, 6, 2, 3) ITN affine per frame and image scale, or None without ITN.
    flows:          per encoder level (1/2 .. 1/32), (B, N, 2, h, w) in pixels of that level
                    (zero for the middle), or an empty list without local warping.
    confidence:     (B, N, H, W) the confidence gate's trust in each frame (1 for the middle), or
                    None without the gate; ``frames`` (and ``scales[-1]``) are the gated frames.
    """

    frames: torch.Tensor
    scales: list[torch.Tensor]
    affines: torch.Tensor
    image_affines: torch.Tensor | None
    flows: list[torch.Tensor]
    confidence: torch.Tensor | None = None


def pad_to_levels(blur: torch.Tensor) -> torch.Tensor:
    """Replicate-pad (B, C, H, W) on the right and bottom to a multiple of 2**LEVELS."""
    multiple = 2**LEVELS
    pad_h, pad_w = (-blur.shape[-2]) % multiple, (-blur.shape[-1]) % multiple
    return F.pad(blur, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else blur


def crop_scales(scales: list[torch.Tensor], height: int, width: int) -> list[torch.Tensor]:
    """Crop padded per-scale images (coarse 1/32 .. fine 1) back to ceil(size / scale factor)."""
    factors = [2 ** (LEVELS - i) for i in range(len(scales))]
    return [s[..., : -(-height // f), : -(-width // f)] for s, f in zip(scales, factors, strict=False)]


def identity_affines(like: torch.Tensor, *shape: int) -> torch.Tensor:
    """Identity affine parameters expanded to (*shape, 2, 3) on ``like``'s device and dtype."""
    # torch.eye(2, 3) is IDENTITY; a factory, where a tensor of constants made here stopped torch's
    # ONNX exporter at some input sizes
    return torch.eye(2, 3, device=like.device, dtype=like.dtype).expand(*shape, 2, 3)


DECODER_LEVELS = (4, 3, 2, 1, 0, None)  # the encoder level (index into E_1..E_5) of each decoder scale, 1/32 .. 1


def decode_non_middle_frame(
    decoder: UNetDecoder,
    encoded: list[torch.Tensor],
    blur: torch.Tensor,
    transformed: list[torch.Tensor],
    warped_middle: list[torch.Tensor] | None,
    middle: list[torch.Tensor],
) -> list[torch.Tensor]:
    """Paper Eq. 2: non-middle frame j at every scale, decoded from the transformers' view of the blur,

        I_j = D_j( [FTN_l,j(E_l) ; ITN_l,j(I_m^l) ; E_l] for every level l )

    In the paper's words (section 4.2; the reference text lost the equation's symbols): "The
    outputs of both networks are aggregated channel-wise and are passed through a decoder to
    predict a non-middle frame. We also input the encoded feature into the non-middle frame decoder
    in order to guide the decoder to learn the spatial relation between the middle and the
    non-middle frame as shown Eq. (2)."

    ``encoded``: E_1..E_5 as the encoder returns them (fine to coarse); ``transformed``: this
    frame's FTN output at the same levels (B, C', h, w), Eq. 1; ``warped_middle``: this frame's
    ITN output, the middle image warped at 1/32 .. 1 (B, 3, h, w), or None without ITN;
    ``middle``: the middle image at 1/32 .. 1; ``blur``: the padded blur, the full-scale skip where
    no encoder feature exists. Not in the paper: each scale's image is a residual added to a base,
    the warped middle image (the middle image without ITN; docs/design.md section 4). Returns the
    frame's images at 1/32 .. 1. The parts go to the decoder unconcatenated: its blocks
    concatenate them once, channels-last."""
    skips = []
    for scale, level in enumerate(DECODER_LEVELS):
        parts = [transformed[level]] if level is not None else [blur]
        if warped_middle is not None:
            parts.append(warped_middle[scale])
        if level is not None:
            parts.append(encoded[level])
        skips.append(parts)
    _, images = decoder(skips, warped_middle if warped_middle is not None else middle)
    return images


def _insert_middle(others: torch.Tensor, middle: torch.Tensor, index: int) -> torch.Tensor:
    """(B, F, ...) and (B, ...) -> (B, F + 1, ...) with ``middle`` at ``index``."""
    return torch.cat([others[:, :index], middle.unsqueeze(1), others[:, index:]], dim=1)


class Blur2Video(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        w, f = config.widths, config.frames - 1
        self.encoder = Encoder(w)
        skips_mid = [w[4], w[3], w[2], w[1], w[0], 3]
        self.middle_decoder = UNetDecoder(w, skips_mid, config.growth, config.dense_layers)
        self.refine = RefineBlock(w[0], w[0]) if config.refine else None
        self.kernel_bank = KernelBankDeblur() if config.kernel_bank else None
        self.gate = ConfidenceGate(config.frames) if config.gate else None
        self.ftn = nn.ModuleList(FeatureTransformer(c, f, config.stn, config.local_warp) for c in w)
        # ITN per image scale (1/32 .. 1); the motion of scale s is read from the closest feature
        self.itn_levels = [4, 3, 2, 1, 0, 0]
        self.itn = nn.ModuleList(ImageTransformer(w[k], f) for k in self.itn_levels) if config.itn else None
        itn_ch = 3 if config.itn else 0
        skips_frames = [self.ftn[k].out_channels + itn_ch + w[k] for k in (4, 3, 2, 1, 0)] + [3 + itn_ch]
        self.frame_decoders = nn.ModuleList(
            UNetDecoder(w, skips_frames, config.growth, config.dense_layers) for _ in range(f)
        )
        self.to(memory_format=torch.channels_last)  # see forward: weights in the layout of the activations

    def middle_path(self, blur: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """The padded blur, the encoder's features E_1..E_5 and the network's own middle image at
        every scale (1/32 .. 1, padded; refined at full scale): what every other frame builds on,
        and the kernel-bank head's candidate."""
        x = pad_to_levels(blur).contiguous(memory_format=torch.channels_last)
        feats = self.encoder(x)  # E_1..E_5
        blur_pyramid = image_pyramid(x, LEVELS)  # the blur at 1/32 .. 1: the middle frame's bases
        mid_feature, mid_images = self.middle_decoder(
            [[feats[4]], [feats[3]], [feats[2]], [feats[1]], [feats[0]], [x]], blur_pyramid
        )
        if self.refine is not None:
            mid_images[-1] = self.refine(mid_feature, mid_images[-1])
        return x, feats, mid_images

    def own_middle_frame(self, blur: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> the network's own full-scale middle frame (B, 3, H, W), before the
        kernel-bank head: the head's candidate."""
        return self.middle_path(blur)[2][-1][..., : blur.shape[-2], : blur.shape[-1]]

    def deblur_middle(self, blur: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        """The full-scale middle frame of a whole photo (B, 3, H, W) from a ``candidate`` for it:
        the kernel-bank head's blend, read from the whole photo, or without the head the candidate
        itself. A photo restored in tiles (``bank=False``, each tile's own middle frame) gets its
        middle frame here once: tiles would each reflect their borders and read their own blur."""
        return candidate if self.kernel_bank is None else self.kernel_bank(blur, candidate)

    def reblur_trust(self, blur: torch.Tensor, frames: torch.Tensor) -> torch.Tensor | None:
        """(B, N, H, W) the reblur fallback's trust in ``frames`` (B, N, 3, H, W) of ``blur``, 1 for
        the middle frame, or None where ``model.fallback`` is 0. A photo restored in tiles gets it
        once, on the whole photo (Restorer), so that tiles and one pass agree."""
        if not self.config.fallback:
            return None
        trust = reblur_confidence(blur, frames, self.config.fallback).unsqueeze(1)
        return trust_middle(trust.expand(-1, frames.shape[1], -1, -1))

    def fall_back(
        self, blur: torch.Tensor, frames: torch.Tensor, gate: bool = True, fallback: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, N, 3, H, W) full-scale frames -> the frames after the confidence gate and the reblur
        fallback, and the trust in each frame (B, N, H, W) or None: what :meth:`forward` and an
        engine (engines/graph_engine.py) finish with. Blending twice towards the blur is one blend
        at the product of the trusts."""
        confidence = None
        if self.gate is not None and gate:
            frames, confidence = self.gate(blur, frames)
        trust = self.reblur_trust(blur, frames) if fallback else None
        if trust is not None:
            frames = blend_towards_blur(blur, frames, trust)
            confidence = trust if confidence is None else confidence * trust
        return frames, confidence

    def bank_middle(self, blur: torch.Tensor, own_middle: torch.Tensor) -> torch.Tensor:
        """The full-scale middle frame :meth:`forward` returns for (B, 3, H, W) blurs, made from the
        network's own (``bank=False``) one: for an engine that runs the network without the
        kernel-bank head. The head reads the padded blur as forward's does; its candidate enters
        per pixel, so the padding of the candidate is never read."""
        h, w = blur.shape[-2:]
        return self.kernel_bank(pad_to_levels(blur), pad_to_levels(own_middle))[..., :h, :w]

    def forward(
        self,
        blur: torch.Tensor,
        affines: torch.Tensor | None = None,
        image_affines: torch.Tensor | None = None,
        bank: bool = True,
        gate: bool = True,
        fallback: bool = True,
    ) -> Restoration:
        """Restore (B, 3, H, W) blurs. ``affines`` (B, N, 5, 2, 3) / ``image_affines`` (B, N, 6, 2, 3),
        when given, replace the estimated global motion (normalised to the padded input), so that
        tiles of one large photo share the motion estimated on the whole photo. ``bank`` False
        returns the network's own middle frame instead of the kernel-bank head's (see
        :meth:`deblur_middle`), ``gate`` False the frames before the confidence gate (what the gate
        is trained on), ``fallback`` False before the reblur fallback (which has no weights: the
        network and the gate are trained without it)."""
        cfg = self.config
        b, _, h, w = blur.shape
        x, feats, mid_images = self.middle_path(blur)

        f = cfg.frames - 1
        mid = cfg.middle
        others = [j for j in range(cfg.frames) if j != mid]
        given = affines[:, others] if affines is not None else None
        given_img = image_affines[:, others] if image_affines is not None else None
        ftn_out = [
            ftn(e, None if given is None else given[:, :, k])
            for k, (ftn, e) in enumerate(zip(self.ftn, feats, strict=False))
        ]
        itn_out = (
            [
                itn(feats[k], img, None if given_img is None else given_img[:, :, s])
                for s, (itn, k, img) in enumerate(zip(self.itn, self.itn_levels, mid_images, strict=False))
            ]
            if self.itn is not None
            else None
        )

        frame_images = [  # per frame j, images coarse to fine (B, 3, h, w)
            decode_non_middle_frame(
                decoder,
                feats,
                x,
                [o[0][:, j] for o in ftn_out],
                None if itn_out is None else [o[0][:, j] for o in itn_out],
                mid_images,
            )
            for j, decoder in enumerate(self.frame_decoders)
        ]
        if (
            self.kernel_bank is not None and bank
        ):  # the full-scale middle frame; the ITN and frame decoders keep the one they were trained with
            mid_images = mid_images[:-1] + [
                self.kernel_bank(x, mid_images[-1]).contiguous(memory_format=torch.channels_last)
            ]
        sequences = [
            _insert_middle(torch.stack([imgs[scale] for imgs in frame_images], 1), mid_img, mid)
            for scale, mid_img in enumerate(mid_images)
        ]
        scales = crop_scales(sequences, h, w)
        scales[-1], confidence = self.fall_back(blur, scales[-1], gate, fallback)
        ftn_thetas = [o[1] if o[1] is not None else identity_affines(blur, b, f) for o in ftn_out]
        affines = _insert_middle(torch.stack(ftn_thetas, 2), identity_affines(blur, b, len(ftn_thetas)), mid)
        image_affines = None
        if itn_out is not None:
            stacked = torch.stack([o[1] for o in itn_out], 2)
            image_affines = _insert_middle(stacked, identity_affines(blur, b, len(itn_out)), mid)
        flows = []
        if cfg.local_warp:
            for o in ftn_out:
                fl = o[2]
                flows.append(_insert_middle(fl, torch.zeros_like(fl[:, 0]), mid))
        return Restoration(
            frames=scales[-1],
            scales=scales,
            affines=affines,
            image_affines=image_affines,
            flows=flows,
            confidence=confidence,
        )
