"""``blur2video train --recipe configs/bundled``: the bundled model's six stages end to end on tiny
settings and stand-in data, each stage from the one before, and an interrupted stage resumed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from PIL import Image
from safetensors import safe_open

from blur2video.checkpoints import read_metadata
from blur2video.errors import Blur2VideoError
from blur2video.recipe import run_recipe

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "bundled"
STAGES = ["1-small", "2-fast", "3-small", "4-levers", "5a-bank", "5b-candidate"]


def _stand_in_data(root: Path) -> list[dict]:
    """A small 2:1 panorama and 14 frames of a moving pattern, in place of ../shared/data."""
    rng = np.random.default_rng(0)
    pano = (rng.random((128, 256, 3)) * 255).astype(np.uint8)
    Image.fromarray(pano).save(root / "pano.png")
    clip = root / "gopro" / "clip"
    clip.mkdir(parents=True)
    for i in range(14):
        Image.fromarray(np.roll(pano[:, :160], 2 * i, axis=1)[:136]).save(clip / f"{i + 1:06d}.png")
    return [{"data": {"panoramas": str(root / "pano.png"), "gopro": str(root / "gopro")}}]


TINY = [  # three frames: the stages' seven took half as long again, and no stage depends on seven
    {"model": {"base_channels": 4, "growth": 4, "frames": 3}},
    {"train": {"steps": 3, "batch_size": 2, "crop": 32, "workers": 0, "checkpoint_every": 1}},
    {"data": {"samples_per_epoch": 8, "val_samples": 1}},
    {"dataset": {"samples": 24, "size": 32}},
]


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


@pytest.mark.slow
def test_every_stage_trains_from_the_last_and_an_interrupted_stage_resumes(tmp_path: Path) -> None:
    overrides = _stand_in_data(tmp_path) + TINY
    out = tmp_path / "run"
    final = run_recipe(RECIPE, out, overrides, device="cpu", quiet=True)
    assert final == out / "5b-candidate.safetensors"
    previous = ""
    for name in STAGES:
        cfg = tomllib.loads((out / name / "config.toml").read_text())
        assert cfg["train"]["init"] == previous and cfg["train"]["steps"] == 3
        previous = str(out / f"{name}.safetensors")
        meta = read_metadata(previous)
        assert meta["train_step"] == "3" and f"(stage {name})" in meta["train_command"]
    assert json.loads(read_metadata(out / "4-levers.safetensors")["averaged_checkpoints"]) == [
        "step-00000001",
        "step-00000002",
        "step-00000003",
    ]
    assert tomllib.loads((out / "5a-bank" / "config.toml").read_text())["data"]["path"] == str(out / "5a-bank-data")
    dtypes = {n: {t.dtype for t in _tensors(out / f"{n}.safetensors").values()} for n in STAGES}
    assert dtypes["5a-bank"] == {torch.float32} and dtypes["5b-candidate"] == {torch.float16}
    assert set(json.loads((out / "recipe.json").read_text())["stages"]) == set(STAGES)

    with pytest.raises(Blur2VideoError, match="already holds a recipe run; pass --resume"):
        run_recipe(RECIPE, out, overrides, device="cpu", quiet=True)

    # the last stage stopped after its step 2: the finished stages are kept, it continues from there
    uninterrupted = _tensors(final)
    final.unlink()
    last = out / "5b-candidate"
    for f in (last / "checkpoints" / "step-00000003").iterdir():
        f.unlink()
    (last / "checkpoints" / "step-00000003").rmdir()
    (last / "last.json").write_text(json.dumps({"step": 2, "dir": "checkpoints/step-00000002"}))
    before = (out / "5a-bank.safetensors").stat().st_mtime_ns
    assert run_recipe(RECIPE, out, overrides, device="cpu", quiet=True, resume=True) == final
    assert (out / "5a-bank.safetensors").stat().st_mtime_ns == before
    assert json.loads((last / "last.json").read_text())["step"] == 3
    resumed = _tensors(final)
    assert resumed.keys() == uninterrupted.keys()
    for k, v in uninterrupted.items():
        torch.testing.assert_close(resumed[k].float(), v.float(), atol=2e-3, rtol=0)
