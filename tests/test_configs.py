"""configs/ holds recipes a fresh clone can run: they resolve, none starts from a weights file,
real data comes through documented [data] keys, and missing data is refused in one line that
says what is needed and where it comes from. experiments/configs/ resolves too."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from tests.conftest import run_main

from blur2video.checkpoints import read_metadata
from blur2video.errors import Blur2VideoError
from blur2video.recipe import read_recipe, run_recipe, split_overrides
from blur2video.restore import bundled_weights
from blur2video.train_config import TrainingConfig, resolve
from blur2video.train_data import build_datasets, data_path, stream_source

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"  # optional: a clone elsewhere has none
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.toml") if p.name != "recipe.toml")
EXPERIMENTS = sorted((ROOT / "experiments" / "configs").glob("*.toml"))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", CONFIGS + EXPERIMENTS, ids=_name)
def test_every_config_resolves(path: Path) -> None:
    cfg = resolve(path, [])
    assert cfg.model.frames in (3, 7)


@pytest.mark.parametrize("path", CONFIGS, ids=_name)
def test_configs_start_from_no_weights_file_and_name_real_data_by_key(path: Path) -> None:
    cfg = resolve(path, [])
    assert cfg.train.init == "", "a recipe starts from scratch or from its previous stage (recipe.toml)"
    for stream in cfg.data.stream:
        value = stream.textures if stream.kind == "scenes" else stream.source
        assert value.startswith(("skimage", "deadleaves", "${data.")), f"{value}: name real data by a [data] key"


def test_the_presets_and_the_recipe_are_all_configs_holds() -> None:
    assert {_name(p) for p in CONFIGS if p.parent.name == "configs"} == {
        "configs/panorama-3.toml",
        "configs/video-7.toml",
        "configs/jin.toml",
    }
    stages = read_recipe(ROOT / "configs" / "bundled")
    assert [s.name for s in stages] == ["1-small", "2-fast", "3-small", "4-levers", "5a-bank", "5b-candidate"]
    assert {s.config for s in stages} == {p for p in CONFIGS if p.parent.name == "bundled"}
    assert [s.average for s in stages] == [1, 1, 1, 3, 1, 1] and [s.fp16 for s in stages].count(False) == 1


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"the configs' data defaults to {SHARED_DATA}, absent here")
def test_the_last_stage_is_the_config_the_bundled_weights_record() -> None:
    recorded = TrainingConfig.from_dict(json.loads(read_metadata(bundled_weights())["train_config"]), "metadata")
    cfg = resolve(ROOT / "configs" / "bundled" / "5b-candidate.toml", [])
    assert (cfg.arch, cfg.preset, cfg.model, cfg.loss) == (
        recorded.arch,
        recorded.preset,
        recorded.model,
        recorded.loss,
    )
    assert cfg.train == replace(recorded.train, init="")  # init: the recipe sets it (stage 5a's weights)
    streams = [
        replace(s, **{"textures" if s.kind == "scenes" else "source": stream_source(s, cfg.data)})
        for s in cfg.data.stream
    ]
    assert streams == list(recorded.data.stream)
    assert cfg.data.samples_per_epoch == recorded.data.samples_per_epoch


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ("panorama-3.toml", "panoramas", "360-degree"),
        ("video-7.toml", "gopro", "GOPRO_Large_all"),
    ],
)
def test_a_preset_without_its_data_says_what_it_needs_in_one_line(
    config: str, key: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    done = run_main(["train", "--config", str(ROOT / "configs" / config), "--out", str(tmp_path / "run")], capsys)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"data.{key} is not set" in done.stderr and words in done.stderr and "http" in done.stderr
    assert f"--set data.{key}=PATH" in done.stderr and "--source" not in done.stderr


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"the configs' data defaults to {SHARED_DATA}, absent here")
def test_a_missing_data_path_is_refused_with_the_key_to_set(tmp_path: Path) -> None:
    cfg = resolve(ROOT / "configs" / "jin.toml", [{"data": {"gopro": str(tmp_path / "nowhere")}}])
    with pytest.raises(Blur2VideoError) as err:
        build_datasets(cfg, 7)
    line = str(err.value)
    assert f"data.gopro = {tmp_path / 'nowhere'} does not exist" in line and "Nah, Kim and Lee" in line
    assert "--set data.gopro=PATH" in line and "\n" not in line


def test_every_missing_data_key_is_named_in_one_line(tmp_path: Path) -> None:
    """A clone without the data learnt of a config's data sets one failed run at a time."""
    streams = [
        {"kind": "rotation", "source": "${data.panoramas}", "source_kind": "panorama"},
        {"kind": "video", "source": "${data.gopro}"},
        {"kind": "rotation", "source": "skimage:astronaut", "source_kind": "photo"},
    ]
    cfg = resolve(None, [{"data": {"panoramas": str(tmp_path / "none"), "gopro": "", "stream": streams}}])
    with pytest.raises(Blur2VideoError) as err:
        build_datasets(cfg, 7)
    line = str(err.value)
    assert line.startswith(f"this config needs data it cannot find: data.panoramas = {tmp_path / 'none'} does not")
    assert "data.gopro is not set (" in line and "360-degree" in line and "Nah, Kim and Lee" in line
    assert line.endswith("; pass --set data.panoramas=PATH --set data.gopro=PATH") and "\n" not in line


def test_a_missing_literal_source_names_the_stream_not_a_synth_flag(tmp_path: Path) -> None:
    cfg = resolve(None, [{"data": {"stream": [{"kind": "rotation", "source": str(tmp_path / "absent")}]}}])
    with pytest.raises(Blur2VideoError, match=r"\[\[data.stream\]\] rotation: source = .* does not exist") as err:
        build_datasets(cfg, 7)
    assert "--source" not in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(Blur2VideoError, match="names no data key"):
        data_path("${data.videos}", None, "source")
    photos = resolve(
        None, [{"data": {"photos": str(tmp_path), "stream": [{"kind": "scenes", "textures": "${data.photos}"}]}}]
    )
    assert stream_source(photos.data.stream[0], photos.data) == str(tmp_path)
    assert data_path("skimage:astronaut", None, "source") == "skimage:astronaut"


def test_data_replaces_a_presets_streams(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = str(ROOT / "configs" / "panorama-3.toml")
    done = run_main(
        ["train", "--config", config, "--data", str(tmp_path / "pano3"), "--out", str(tmp_path / "run")], capsys
    )
    assert done.returncode == 2 and "pano3" in done.stderr and "not both" not in done.stderr, done.stderr


def test_a_recipe_refuses_what_it_sets_itself(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert split_overrides([{"dataset": {"samples": 4}}, {"train": {"lr": 1e-3}}]) == (
        [{"train": {"lr": 1e-3}}],
        {"samples": 4},
    )
    for override in ({"train": {"init": "x.safetensors"}}, {"data": {"path": "D"}}):
        with pytest.raises(Blur2VideoError, match="a recipe sets it for each stage"):
            split_overrides([override])
    with pytest.raises(Blur2VideoError, match="no such recipe"):
        read_recipe(tmp_path)
    (tmp_path / "recipe.toml").write_text('[[stage]]\nname = "a"\nconfig = "a.toml"\n')
    (tmp_path / "a.toml").write_text('[train]\ninit = "runs/x.safetensors"\n')
    with pytest.raises(Blur2VideoError, match="remove train.init"):
        run_recipe(tmp_path, tmp_path / "out", quiet=True)
    done = run_main(["train", "--recipe", str(tmp_path), "--config", "x.toml", "--out", str(tmp_path / "o")], capsys)
    assert done.returncode == 2 and "drop --config" in done.stderr and done.stderr.count("\n") == 1, done.stderr
