"""The local kernel-bank probe (experiments/local_bank.py) and the dataset merger it was trained
with (experiments/merge_datasets.py): a merged DATASET reads back every part's samples, and the
probe prints one row per set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local_bank import oracle_middle  # noqa: E402
from merge_datasets import merge  # noqa: E402

from blur2video.data.dataset import FolderDataset  # noqa: E402
from blur2video.synth.api import synthesize_rotation  # noqa: E402
from blur2video.synth.rotation import RotationSettings  # noqa: E402

HERE = Path(__file__).resolve().parents[1]


def _parts(root: Path) -> None:
    for name, angle, seed in (("small", 1.0, 1), ("large", 3.0, 2)):
        synthesize_rotation(
            "skimage:astronaut",
            root / "parts" / name,
            3,
            RotationSettings(source_kind="photo", frames=7, size=96, fov_deg=60, max_angle_deg=angle, seed=seed),
        )


def test_a_merged_dataset_reads_every_parts_samples(tmp_path: Path) -> None:
    _parts(tmp_path / "mix")
    assert merge(tmp_path / "mix") == 6
    merged = FolderDataset(tmp_path / "mix")
    alone = FolderDataset(tmp_path / "mix" / "parts" / "small")  # the parts in name order: large, small
    assert len(merged) == 6 and merged.meta(3)["part"] == "small"
    blur, frames = merged[3]
    assert torch.equal(blur, alone[0][0]) and torch.equal(frames, alone[0][1])


def test_the_oracle_is_never_worse_than_its_candidate() -> None:
    torch.manual_seed(0)
    truth = torch.rand(1, 3, 128, 160)
    blur = torch.nn.functional.avg_pool2d(truth, 3, 1, 1)
    for candidate in (blur, truth):
        best = oracle_middle(blur, candidate, truth)
        assert float((best - truth).pow(2).mean()) <= float((candidate - truth).pow(2).mean()) + 1e-7


def test_the_probe_prints_a_row_per_set(tmp_path: Path) -> None:
    _parts(tmp_path / "mix")
    done = subprocess.run(
        [sys.executable, str(HERE / "local_bank.py"), str(tmp_path / "mix" / "parts" / "small"), "--samples", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    rows = [line for line in done.stdout.splitlines() if line.startswith("| small")]
    assert len(rows) == 1 and len(rows[0].split("|")) == 9, done.stdout
