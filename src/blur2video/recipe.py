"""``blur2video train --recipe FOLDER --out RUN``: training stages run in order into one RUN folder,
each started from the weights the stage before it handed on.

Why: the bundled model was trained in stages, each a warm start from the last. Written as separate
commands whose ``train.init`` names the previous stage's file, a rerun needs weights a fresh clone
does not have (they lived in run folders and in the history). A recipe folder holds
``recipe.toml``, the stages in order, and one training config per stage; the runner sets each
stage's ``train.init`` itself, so no config names a weights file.

``recipe.toml``::

    [[stage]]
    name = "4-levers"         # RUN/4-levers/ (the training run) and RUN/4-levers.safetensors
    config = "4-levers.toml"  # relative to the recipe folder
    average = 3               # hand on the mean of the last 3 checkpoints (default 1: the last)
    fp16 = true               # hand on fp16 weights, as bundled (default true)

    [stage.dataset]           # optional: a DATASET written first (RUN/NAME-data), the stage's data.path
    kind = "rotation"         # a [[data.stream]] table's keys, plus samples (and workers)
    samples = 6000

RUN/NAME.safetensors is written once the stage is complete, so a stage whose file exists is
skipped; an interrupted stage continues from its last checkpoint with ``--resume``. ``--set``
overrides apply to every stage (``--set dataset.KEY=VALUE`` to the stages' datasets).
RUN/recipe.json records the command and each finished stage's step and wall time.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib
import torch

from .bundle import bundle_run, where_trained
from .errors import Blur2VideoError
from .fileio import atomic_write_bytes
from .train_config import Stream, TrainingConfig, resolve
from .train_data import check_data_keys, stream_job, stream_source

RECIPE_FILE = "recipe.toml"
_STAGE_KEYS = {"name", "config", "average", "fp16", "dataset"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Stage:
    """One training stage: its config file and what it hands on to the next."""

    name: str
    config: Path
    average: int = 1
    fp16: bool = True
    dataset: dict | None = None


def read_recipe(recipe: str | Path) -> list[Stage]:
    """The stages of a recipe folder (or of its recipe.toml), checked before anything trains."""
    path = Path(recipe)
    if path.is_dir():
        path = path / RECIPE_FILE
    if not path.is_file():
        raise Blur2VideoError(f"{path}: no such recipe; give a folder with {RECIPE_FILE} (e.g. configs/bundled)")
    try:
        tables = tomllib.loads(path.read_text()).get("stage", [])
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise Blur2VideoError(f"{path}: not valid TOML ({exc})") from None
    if not tables or not isinstance(tables, list):
        raise Blur2VideoError(f"{path}: no [[stage]] tables; list the stages in training order")
    stages, seen = [], set()
    for i, t in enumerate(tables, 1):
        where = f"{path}: stage {i}"
        unknown = set(t) - _STAGE_KEYS
        if unknown:
            raise Blur2VideoError(f"{where}: unknown keys {sorted(unknown)}; valid: {sorted(_STAGE_KEYS)}")
        name = t.get("name")
        if not isinstance(name, str) or not _NAME.match(name) or name in seen:
            raise Blur2VideoError(f"{where}: name = {name!r}: give each stage its own name (letters, digits, . _ -)")
        seen.add(name)
        config = path.parent / str(t.get("config", ""))
        if not config.is_file():
            raise Blur2VideoError(f"{where} ({name}): config = {t.get('config')!r}: no such file next to {path.name}")
        average, fp16, dataset = t.get("average", 1), t.get("fp16", True), t.get("dataset")
        if not isinstance(average, int) or isinstance(average, bool) or average < 1:
            raise Blur2VideoError(f"{where} ({name}): average = {average!r}: a whole number of checkpoints >= 1")
        if not isinstance(fp16, bool):
            raise Blur2VideoError(f"{where} ({name}): fp16 = {fp16!r}: expected true or false")
        if dataset is not None and (not isinstance(dataset, dict) or "samples" not in dataset):
            raise Blur2VideoError(f"{where} ({name}): [stage.dataset] needs samples = COUNT and a stream's keys")
        stages.append(Stage(name, config, average, fp16, dataset))
    return stages


def split_overrides(overrides: list[dict]) -> tuple[list[dict], dict]:
    """(training overrides for every stage, ``dataset.*`` overrides for the stages' datasets).
    ``train.init`` and ``data.path`` are the runner's: it chains the stages through them."""
    train, dataset = [], {}
    for o in overrides:
        for section, table in o.items():
            if section == "dataset":
                dataset.update(table)
                continue
            for key in table:
                if (section, key) in (("train", "init"), ("data", "path")):
                    raise Blur2VideoError(
                        f"--set {section}.{key}: a recipe sets it for each stage (the previous stage's weights, "
                        "the stage's own dataset); train one config with --config to choose it"
                    )
            train.append({section: table})
    return train, dataset


def stage_config(stage: Stage, overrides: list[dict], init: Path | None, dataset: Path | None) -> TrainingConfig:
    """The stage's resolved training config: its file, the user's overrides, then the chain (the
    previous stage's weights as train.init, the stage's own DATASET as data.path)."""
    cfg = resolve(stage.config, overrides)
    if cfg.train.init:
        raise Blur2VideoError(
            f"{stage.config}: train.init = {cfg.train.init!r}; a recipe stage starts from the stage "
            "before it (or from scratch), so remove train.init"
        )
    chain: dict = {"train": {"init": str(init) if init else ""}}
    if dataset is not None:
        chain["data"] = {"path": str(dataset), "stream": []}
    return resolve(stage.config, [*overrides, chain])


def dataset_stream(stage: Stage, frames: int, overrides: dict) -> tuple[Stream, int, int]:
    """The stage's [stage.dataset] table as a stream, with its sample and worker counts."""
    table = {**(stage.dataset or {}), **overrides}
    samples, workers = table.pop("samples"), table.pop("workers", 1)
    if not isinstance(samples, int) or not isinstance(workers, int) or samples < 1 or workers < 1:
        raise Blur2VideoError(f"{stage.name}: [stage.dataset] samples and workers must be whole numbers >= 1")
    tables = {"model": {"frames": frames}, "data": {"stream": [table]}}
    stream = TrainingConfig.from_dict(tables, f"recipe stage {stage.name} [stage.dataset]").data.stream[0]
    return stream, samples, workers


def check_stages(stages: list[Stage], overrides: list[dict], dataset_overrides: dict) -> None:
    """Resolve every stage and find its data before anything is written: a missing data set
    should stop the recipe now, in one line, not hours later at the stage that needs it."""
    found = []
    for stage in stages:
        cfg = stage_config(stage, overrides, None, Path("dataset") if stage.dataset is not None else None)
        streams = list(cfg.data.stream)
        if stage.dataset is not None:
            streams.append(dataset_stream(stage, cfg.model.frames, dataset_overrides)[0])
        found += [(stream, cfg.data) for stream in streams]
    check_data_keys(found)
    for stream, data in found:
        stream_source(stream, data)


def make_dataset(stage: Stage, cfg: TrainingConfig, out: Path, overrides: dict) -> Path:
    """Write the stage's on-disk DATASET (resumed where an earlier call stopped)."""
    from .synth.runner import run_synthesis

    stream, samples, workers = dataset_stream(stage, cfg.model.frames, overrides)
    job = stream_job(stream, cfg.model.frames, data=cfg.data)
    return run_synthesis(job, out, samples, workers=workers)[0]


def run_recipe(
    recipe: str | Path,
    out: str | Path,
    overrides: list[dict] | None = None,
    device: str = "auto",
    amp: bool = False,
    resume: bool = False,
    quiet: bool = False,
    command: str = "",
) -> Path:
    """Run every stage of ``recipe`` into ``out``; returns the last stage's weights file."""
    from .train import train

    stages = read_recipe(recipe)
    out = Path(out)
    train_overrides, dataset_overrides = split_overrides(overrides or [])
    record_file = out / "recipe.json"
    existing = [out / n for s in stages for n in (s.name, f"{s.name}.safetensors", f"{s.name}-data")]
    if not resume and (record_file.exists() or any(p.exists() for p in existing)):
        raise Blur2VideoError(
            f"{out}: already holds a recipe run; pass --resume to continue it or choose another --out"
        )
    check_stages(stages, train_overrides, dataset_overrides)
    command = command or f"blur2video train --recipe {recipe} --out {out}"
    record = json.loads(record_file.read_text()) if record_file.is_file() else {}
    record.update(recipe=str(recipe), command=command, overrides=overrides or [])
    done = record.setdefault("stages", {})
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(record_file, json.dumps(record, indent=1).encode())

    def say(line: str) -> None:
        if not quiet:
            print(line, flush=True)

    previous: Path | None = None
    for i, stage in enumerate(stages, 1):
        weights = out / f"{stage.name}.safetensors"
        head = f"stage {stage.name} ({i} of {len(stages)})"
        if weights.is_file():
            say(f"{head}: done, {weights}")
            previous = weights
            continue
        data_path = out / f"{stage.name}-data" if stage.dataset is not None else None
        cfg = stage_config(stage, train_overrides, previous, data_path)
        synth_seconds = 0.0
        if data_path is not None:
            say(f"{head}: writing its dataset {data_path}")
            started = time.perf_counter()
            make_dataset(stage, cfg, data_path, dataset_overrides)
            synth_seconds = time.perf_counter() - started
        say(f"{head}: training {stage.config} into {out / stage.name} from {previous or 'scratch'}")
        started_before = (out / stage.name / "last.json").exists()  # an interrupted stage continues
        train(cfg, out / stage.name, device=device, amp=amp, resume=started_before, quiet=quiet)
        extra = bundle_run(
            out / stage.name,
            weights,
            average=stage.average,
            command=f"{command} (stage {stage.name})",
            where=where_trained(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")),
            dtype=torch.float16 if stage.fp16 else None,
        )
        done[stage.name] = {
            "weights": str(weights),
            "from": extra["source"],
            "train_step": extra["train_step"],
            "train_wall_seconds": extra["train_wall_seconds"],
        }
        if data_path is not None:
            done[stage.name]["dataset_seconds_this_call"] = round(synth_seconds, 1)
        atomic_write_bytes(record_file, json.dumps(record, indent=1).encode())
        say(f"{head}: hands on {weights} ({extra['source']}, step {extra['train_step']})")
        previous = weights
    assert previous is not None  # read_recipe refuses a recipe without stages
    return previous
