"""The model's frozen configuration: every ablation of the paper's Table 5 is a switch here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..conventions import check_frame_count
from ..errors import Blur2VideoError
from ..settings import check_ranges, setting

LEVELS = 5  # encoder blocks; inputs are padded to a multiple of 2**LEVELS


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of :class:`Blur2Video`.

    ``base_channels`` c gives encoder widths (c, 2c, 4c, 8c, 8c); ``growth`` is the dense blocks'
    growth rate and ``dense_layers`` their depth per decoder block, coarse (1/16) to fine (1): the
    paper's 5 everywhere, fewer at the fine scales where a layer costs the most pixels (the
    ``fast`` preset); ``stn``/``local_warp`` are the two halves of each FTN, ``itn`` the image
    transformers, ``refine`` the middle decoder's refining block. ``kernel_bank`` (not in the
    paper) makes the middle frame the kernel-bank head's deconvolution of the blur
    (model/kernel_bank.py). ``gate`` (not in the paper) blends every non-middle frame back
    towards the blur where a small CNN finds the network unsure (model/confidence_gate.py);
    ``fallback`` (not in the paper, no weights) where the frames do not average back to the blur
    (model/reblur_gate.py).
    """

    frames: int = setting(7, "N, the frames restored from one blur (odd, >= 3); unset with data.path: that DATASET's N")
    base_channels: int = setting(12, "encoder width c: widths c, 2c, 4c, 8c, 8c (0 in TOML: the preset's)", low=1)
    growth: int = setting(8, "the dense blocks' growth rate (0 in TOML: the preset's)", low=1)
    dense_layers: tuple[int, ...] = setting(
        (5, 5, 5, 5, 5), "dense layers per decoder block, coarse (1/16) to fine (1) ([] in TOML: the preset's)"
    )
    stn: bool = setting(True, "the FTN's global (affine) warp of the features")
    local_warp: bool = setting(True, "the FTN's local (per-pixel flow) warp of the features")
    itn: bool = setting(True, "the image transformers: the middle image warped into each frame as its base")
    refine: bool = setting(True, "the middle decoder's refining block")
    kernel_bank: bool = setting(False, "not in the paper: the full-scale middle frame from the kernel-bank head")
    gate: bool = setting(False, "not in the paper: the other frames fall back towards the blur where unsure")
    fallback: float = setting(
        0.0,
        "not in the paper: the other frames fall back towards the blur where their mean misses it by about this "
        "much (RMS, 0..1 units; model/reblur_gate.py); 0: off",
        low=0.0,
    )

    def __post_init__(self) -> None:
        check_ranges(self, "model")
        check_frame_count(self.frames, f"frames={self.frames}")
        if not (self.stn or self.local_warp):
            raise Blur2VideoError("the FTN needs at least one of stn and local_warp")
        object.__setattr__(self, "dense_layers", tuple(int(n) for n in self.dense_layers))  # JSON gives a list
        if len(self.dense_layers) != LEVELS or min(self.dense_layers) < 1:
            raise Blur2VideoError(
                f"dense_layers={list(self.dense_layers)}: give {LEVELS} counts >= 1, coarse (1/16) to fine (1)"
            )

    @property
    def widths(self) -> tuple[int, ...]:
        c = self.base_channels
        return (c, 2 * c, 4 * c, 8 * c, 8 * c)

    @property
    def middle(self) -> int:
        return self.frames // 2

    def as_dict(self) -> dict:
        """Plain JSON types (lists, not tuples), so a config read back from metadata compares equal."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @staticmethod
    def preset(name: str, **overrides) -> ModelConfig:
        """A :data:`PRESETS` configuration with ``overrides``."""
        if name not in PRESETS:
            raise Blur2VideoError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
        return replace(PRESETS[name], **overrides)


PRESETS = {  # small: CPU training and tests
    "small": ModelConfig(base_channels=12, growth=8),
    # small with fewer dense convs at the fine scales: the bundled model, 720p in under 3 s on 2 cores
    "fast": ModelConfig(base_channels=12, growth=8, dense_layers=(5, 5, 3, 1, 1)),
    "paper": ModelConfig(base_channels=64, growth=32),  # the paper's scale, GPU
}
