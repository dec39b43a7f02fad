"""The typed training configuration: every shipped config and saved run loads, a resolved config
reads back as itself, and a bad key or value is one line naming it."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
import tomli_w
import tomllib

from blur2video.ablate import variant_config
from blur2video.cli import main
from blur2video.errors import Blur2VideoError
from blur2video.model.config import PRESETS, ModelConfig
from blur2video.train_config import TrainingConfig, reference, resolve

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted([*ROOT.glob("configs/*.toml"), *ROOT.glob("experiments/configs/*.toml")])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_loads_and_reads_back_as_itself(path: Path) -> None:
    cfg = resolve(path, [])
    saved = tomllib.loads(tomli_w.dumps(cfg.as_dict()))  # what RUN/config.toml holds
    assert TrainingConfig.from_dict(saved) == cfg
    assert json.loads(json.dumps(cfg.as_dict())) == cfg.as_dict()  # and the checkpoints' metadata


def test_a_run_folder_saved_by_an_older_blur2video_resumes_with_its_settings(tmp_path: Path) -> None:
    """Older runs wrote 0 and [] for the preset's sizes and had no loss.photometric."""
    old = {
        "model": {"preset": "fast", "frames": 7, "base_channels": 0, "growth": 0, "dense_layers": []},
        "loss": {"scale_weights": [0.05, 0.1, 0.2, 0.4, 0.8, 1.0], "middle_weight": 4.0},
        "train": {"steps": 600, "lr": 5e-4, "lr_milestones": [0.75], "part": ""},
        "data": {"path": "", "stream": [{"kind": "scenes", "size": 128, "textures": "skimage:camera"}]},
    }
    (tmp_path / "config.toml").write_text(tomli_w.dumps(old))
    cfg = resolve(tmp_path / "config.toml", [{"train": {"lr": 2e-4, "steps": 900, "lr_milestones": [0.5]}}])
    assert cfg.model == PRESETS["fast"]
    assert (cfg.train.lr, cfg.train.steps, cfg.train.lr_milestones) == (2e-4, 900, (0.5,))
    assert cfg.loss.middle_weight == 4.0 and cfg.data.stream[0].settings.size == 128


def test_every_model_field_is_a_model_key() -> None:
    """A field added to ModelConfig is a [model] setting with nothing else to change."""
    for f in fields(ModelConfig):
        default = getattr(ModelConfig(), f.name)
        if isinstance(default, bool):
            value = not default
        else:
            value = default + 2 if isinstance(default, int | float) else tuple(v + 1 for v in default)
        cfg = resolve(None, [{"model": {f.name: list(value) if isinstance(value, tuple) else value}}])
        assert getattr(cfg.model, f.name) == value, f.name


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"train": {"lrr": 1.0}}, "unknown key train.lrr"),
        ({"trian": {"lr": 1.0}}, "unknown section [trian]"),
        ({"train": {"steps": "many"}}, 'train.steps = "many": expected an integer'),
        ({"train": {"lr": -1.0}}, "train.lr = -1.0: give a number above 0"),
        ({"train": {"lr": float("nan")}}, "train.lr = nan: give a finite number"),
        ({"train": {"lr_milestones": [0.5, 2.0]}}, "train.lr_milestones = [0.5, 2.0]"),
        ({"train": {"lr_milestones": 0.5}}, "train.lr_milestones = 0.5: expected a list"),
        ({"train": {"noise": 2.0}}, "train.noise = 2.0"),
        ({"train": {"part": "encoder"}}, 'train.part = "encoder": choose'),
        ({"train": {"part": "gate"}}, "set model.gate = true"),
        ({"train": {"checkpoint_every": 0}}, "train.checkpoint_every = 0"),
        ({"loss": {"lambda_pt": -0.1}}, "loss.lambda_pt = -0.1"),
        ({"loss": {"scale_weights": [1.0]}}, "loss.scale_weights needs 6 weights"),
        ({"model": {"base_channels": -1}}, "model.base_channels = -1"),
        ({"model": {"preset": "huge"}}, 'model.preset = "huge"'),
        ({"model": {"arch": "unet"}}, 'model.arch = "unet"'),
        ({"model": {"stn": "yes"}}, 'model.stn = "yes": expected true or false'),
        ({"data": {"samples_per_epoch": 0}}, "data.samples_per_epoch = 0"),
        ({"data": {"stream": [{"kind": "blur"}]}}, '[[data.stream]] 1: kind = "blur"'),
        ({"data": {"stream": [{"kind": "scenes", "sizee": 64}]}}, "[[data.stream]] 1 (scenes): unknown key sizee"),
        ({"data": {"stream": [{"kind": "scenes", "size": "big"}]}}, '[[data.stream]] 1 (scenes): size = "big"'),
        ({"data": {"stream": [{"kind": "rotation"}]}}, "[[data.stream]] 1 (rotation): needs source"),
        ({"data": {"stream": [{"kind": "scenes"}, {"kind": "scenes", "size": 8}]}}, "[[data.stream]] 2 (scenes)"),
        ({"data": {"stream": [{"kind": "scenes", "weight": -1.0}]}}, "[[data.stream]] 1 (scenes): weight = -1.0"),
        ({"data": {"path": "D", "stream": [{"kind": "scenes"}]}}, "not both"),
    ],
)
def test_a_bad_key_or_value_is_one_line_naming_it(override: dict, named: str) -> None:
    with pytest.raises(Blur2VideoError) as info:
        resolve(None, [override])
    assert named in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_the_cli_prints_the_resolved_config_and_refuses_a_typo_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = ROOT / "configs" / "bundled" / "5b-candidate.toml"
    assert main(["train", "--print-config", "--config", str(config), "--set", "train.lr=2e-4", "--steps", "7"]) == 0
    printed = tomllib.loads(capsys.readouterr().out)
    expected = resolve(config, [{"train": {"lr": 2e-4, "steps": 7}}])
    assert TrainingConfig.from_dict(printed) == expected
    assert main(["train", "--out", str(tmp_path / "run"), "--set", "loss.lamda_tc=0.2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key loss.lamda_tc" in err[0], err
    assert not (tmp_path / "run").exists()


def test_an_ablation_variant_is_the_base_with_its_switches() -> None:
    base = resolve(None, [{"model": {"frames": 3, "growth": 6}, "train": {"seed": 4, "lr": 3e-4}}])
    cfg = variant_config(base, "no-stn", 10, "DATA", None, seed=9)
    assert cfg.model.stn is False and cfg.model.growth == 6 and cfg.train.lr == 3e-4
    assert (cfg.train.steps, cfg.train.seed, cfg.data.path) == (10, 9, "DATA")


def test_the_docs_list_every_key_as_the_dataclasses_declare_them() -> None:
    """docs/training-config.md is ``python -m blur2video.train_config``'s output."""
    assert (ROOT / "docs" / "training-config.md").read_text() == reference()
