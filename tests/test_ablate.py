"""Ablations: ablate trains the Table-5 variants from its own list (no config copies) and writes Table 5."""

from __future__ import annotations

from pathlib import Path

import pytest

from blur2video.ablate import VARIANTS, ablate
from blur2video.errors import Blur2VideoError
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationSettings


def test_variants_cover_the_papers_table5() -> None:
    """Every row of the paper's Table 5 (and the refining block it discusses) is a variant."""
    assert VARIANTS["full"] == {}
    assert VARIANTS["stn-only"] == {"model": {"local_warp": False, "itn": False}}  # FTN[STN]
    assert VARIANTS["no-itn"] == {"model": {"itn": False}}  # FTN[STN LW]
    assert VARIANTS["no-local-warp"] == {"model": {"local_warp": False}}  # FTN[STN] ITN
    assert VARIANTS["pml"] == {"loss": {"consistency": False, "penalty": False}}
    assert VARIANTS["pml-tcl"] == {"loss": {"penalty": False}}
    assert {"no-stn", "no-refine"} <= set(VARIANTS)


def test_ablate_trains_and_reports_every_variant(tmp_path: Path) -> None:
    data = tmp_path / "data"
    synthesize_rotation(
        "skimage:astronaut", data, 8, RotationSettings(source_kind="photo", frames=3, size=32, max_angle_deg=5.0)
    )
    base = tmp_path / "base.toml"
    base.write_text(
        "[model]\nbase_channels = 4\ngrowth = 4\n"  # no frames: N comes from the 3-frame DATASET
        "[train]\nbatch_size = 2\ncrop = 32\nworkers = 0\nval_fraction = 0.25\n"
        # a preset's streams (docs/evaluation.md's ablate command gives configs/panorama-3.toml):
        # --data takes their place, as it does for train, instead of "data.path or streams, not both"
        '[data]\npanoramas = ""\n[[data.stream]]\nkind = "rotation"\nsource = "${data.panoramas}"\n'
    )
    table = ablate(str(data), tmp_path / "abl", str(base), steps=2, variants=["no-stn", "pml"], device="cpu")
    assert set(table["variants"]) == {"no-stn", "pml"}
    md = (tmp_path / "abl" / "table5.md").read_text()
    assert "| no-stn | model.stn=false |" in md and "| blurred input |" in md
    with pytest.raises(Blur2VideoError, match="unknown variant"):
        ablate(str(data), tmp_path / "x", str(base), steps=1, variants=["nope"])

    seeded = ablate(str(data), tmp_path / "s", str(base), steps=2, variants=["pml"], device="cpu", seeds=[1, 2])
    row = seeded["variants"]["pml"]
    assert (tmp_path / "s" / "pml" / "seed-1" / "model.safetensors").exists()
    assert (tmp_path / "s" / "pml" / "seed-2" / "model.safetensors").exists()
    each = [float(v) for v in row["per_seed_psnr_mean"]]
    assert len(each) == 2 and row["psnr_mean"] == pytest.approx(sum(each) / 2)
    assert row["psnr_sd"] == pytest.approx(abs(each[0] - each[1]) / 2**0.5)
    assert " ± " in (tmp_path / "s" / "table5.md").read_text()
    with pytest.raises(Blur2VideoError, match="distinct seeds"):
        ablate(str(data), tmp_path / "y", str(base), steps=1, variants=["pml"], seeds=[3, 3])


def test_datasets_that_do_not_fit_are_one_line_in_ablates_terms(tmp_path: Path) -> None:
    """ablate has no --frames or --crop: a mismatch names the DATASET, the config key and the fix,
    before any variant trains."""
    for name, frames in (("n3", 3), ("n5", 5)):
        synthesize_rotation(
            "skimage:astronaut", tmp_path / name, 2, RotationSettings(source_kind="photo", frames=frames, size=32)
        )
    with pytest.raises(
        Blur2VideoError,
        match=r"--val-data .*n5: its samples have N=5 frames but the variants "
        r"predict 3 \(the N of --data .*n3\); give DATASETs of 3 frames",
    ):
        ablate(str(tmp_path / "n3"), tmp_path / "a", steps=1, val_data=str(tmp_path / "n5"))
    config = tmp_path / "c.toml"
    config.write_text("[model]\nframes = 5\n[train]\ncrop = 64\n")
    with pytest.raises(
        Blur2VideoError,
        match=r"--data .*n3: its samples have N=3 frames but the variants predict 5 "
        r"\(model.frames of .*c.toml\)",
    ):
        ablate(str(tmp_path / "n3"), tmp_path / "b", str(config), steps=1)
    with pytest.raises(
        Blur2VideoError,
        match=r"c.toml: train.crop = 64 is larger than the 32x32 samples of --data "
        r".*n5; set train.crop to 32 or less in the config",
    ):
        ablate(str(tmp_path / "n5"), tmp_path / "c", str(config), steps=1)
    assert not any((tmp_path / d).exists() for d in "abc")  # refused before anything was written
