"""Parameters and GFLOPs (multiply-add = 2 FLOPs, torch's FlopCounterMode) of the network and the
Jin baseline at 256x256, for N = 3 and 7, small, fast and paper presets.

    python benchmarks/model_size.py
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from blur2video.model import Blur2Video, ModelConfig
from blur2video.model.baselines import JinSequential


def gflops(model: torch.nn.Module, size: int = 256) -> float:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def main() -> None:
    print("| model | preset | N | parameters (M) | fp16 weights (MB) | GFLOPs at 256x256 |")
    print("|---|---|---:|---:|---:|---:|")
    for cls in (Blur2Video, JinSequential):
        for preset in ("small", "fast", "paper"):
            for frames in (3, 7):
                model = cls(ModelConfig.preset(preset, frames=frames)).eval()
                params = sum(p.numel() for p in model.parameters())
                print(f"| {cls.__name__} | {preset} | {frames} | {params / 1e6:.2f} | {params * 2 / 1e6:.1f} | {gflops(model):.1f} |")


if __name__ == "__main__":
    main()
