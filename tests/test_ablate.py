"""Ablations: variants stay in step with their config files, and ablate writes Table 5."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from blur2video.ablate import VARIANTS, ablate
from blur2video.errors import Blur2VideoError
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationSettings

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_config_file_matches_variant(name: str) -> None:
    assert tomllib.loads((CONFIGS / f"ablation-{name}.toml").read_text()) == VARIANTS[name]


def test_ablate_trains_and_reports_every_variant(tmp_path: Path) -> None:
    data = tmp_path / "data"
    synthesize_rotation(
        "skimage:astronaut", data, 8, RotationSettings(source_kind="photo", frames=3, size=32, max_angle_deg=1.0)
    )
    base = tmp_path / "base.toml"
    base.write_text(
        "[model]\nframes = 3\nbase_channels = 4\ngrowth = 4\n[train]\nbatch_size = 2\ncrop = 32\nworkers = 0\nval_fraction = 0.25\n"
    )
    table = ablate(str(data), tmp_path / "abl", str(base), steps=2, variants=["no-stn", "pml"], device="cpu")
    assert set(table["variants"]) == {"no-stn", "pml"}
    md = (tmp_path / "abl" / "table5.md").read_text()
    assert "| no-stn | model.stn=false |" in md and "| blurred input |" in md
    with pytest.raises(Blur2VideoError, match="unknown variant"):
        ablate(str(data), tmp_path / "x", str(base), steps=1, variants=["nope"])


@pytest.mark.parametrize("name", ["demo", "panorama-3", "video-7"])
def test_presets_resolve(name: str) -> None:
    from blur2video.train_config import model_config, resolve

    cfg = resolve(CONFIGS / f"{name}.toml", [])
    assert model_config(cfg).frames in (3, 7)
