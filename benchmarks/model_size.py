"""Parameters and GFLOPs (multiply-add = 2 FLOPs, blur2video.model.flops) of the network and the
Jin baseline at 256x256, for N = 3 and 7, small, fast and paper presets.

    python benchmarks/model_size.py
"""

from __future__ import annotations

import torch

from blur2video.model import Blur2Video, ModelConfig
from blur2video.model.baselines import JinSequential
from blur2video.model.flops import count_flops


def gflops(model: torch.nn.Module, size: int = 256) -> float:
    x = torch.rand(1, 3, size, size)
    with torch.inference_mode():
        return count_flops(lambda: model(x)) / 1e9


def main() -> None:
    print("| model | preset | N | parameters (M) | fp16 weights (MB) | GFLOPs at 256x256 |")
    print("|---|---|---:|---:|---:|---:|")
    for cls in (Blur2Video, JinSequential):
        for preset in ("small", "fast", "paper"):
            for frames in (3, 7):
                model = cls(ModelConfig.preset(preset, frames=frames)).eval()
                params = sum(p.numel() for p in model.parameters())
                print(
                    f"| {cls.__name__} | {preset} | {frames} | {params / 1e6:.2f} | {params * 2 / 1e6:.1f} | "
                    f"{gflops(model):.1f} |"
                )


if __name__ == "__main__":
    main()
