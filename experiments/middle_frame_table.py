"""What the middle-frame diagnostics share (unsharp_baseline.py, wiener_oracle.py): a DATASET's
blurs with their middle frames, and the table they print."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from blur2video.data.dataset import read_dataset_header
from blur2video.fileio import read_image


def middle_frame_samples(data: Path) -> tuple[dict, Iterator[tuple[dict, np.ndarray, torch.Tensor]]]:
    """The DATASET header and, per record, (record, blur (H, W, C) array, middle frame (C, H, W))."""
    settings, records = read_dataset_header(data)
    middle = settings["frames"] // 2

    def samples() -> Iterator[tuple[dict, np.ndarray, torch.Tensor]]:
        for record in records:
            target = torch.from_numpy(read_image(data / record["frames"][middle])).permute(2, 0, 1)
            yield record, read_image(data / record["blur"]), target

    return {**settings, "samples": len(records), "middle": middle}, samples()


def print_table(data: Path, header: dict, scores: dict[str, list[float]], note: str = "") -> None:
    """One markdown row per method: its mean middle-frame PSNR."""
    print(f"{data}: {header['samples']} samples, middle frame {header['middle']}{note}")
    print("| method | middle-frame PSNR (dB) |")
    print("|---|---:|")
    for name, values in scores.items():
        print(f"| {name} | {np.mean(values):.2f} |")
