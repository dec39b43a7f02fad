"""Issue 21, training side: exact resume across lr milestones, settings that win on resume, data
errors (in DataLoader workers, under DDP) that end in one line instead of a hang, and damaged
checkpoints or last.json refused in one line naming the file."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from blur2video import cli
from blur2video.checkpoints import load_model, save_model
from blur2video.errors import Blur2VideoError
from blur2video.model.config import ModelConfig
from blur2video.model.network import Blur2Video
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationSettings
from blur2video.train import Trainer, _quiet_hand_over_resets, train
from blur2video.train_config import TrainingConfig, resolve

TINY = {"base_channels": 4, "growth": 4}
TIMEOUT = 240  # seconds: a regression that hangs fails here instead of stalling CI


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 samples of 32x32, N=3: 9 for training (2 batches of 4 per epoch), 3 for validation."""
    root = tmp_path_factory.mktemp("data") / "rot3"
    synthesize_rotation(
        "skimage:astronaut,rocket",
        root,
        12,
        RotationSettings(source_kind="photo", frames=3, size=32, fov_deg=60, max_angle_deg=2.0, seed=3),
    )
    return root


def tiny_config(data: Path, **train_settings) -> TrainingConfig:
    return resolve(
        None,
        [
            {"model": {"frames": 3, **TINY}},
            {"data": {"path": str(data)}},
            {
                "train": {
                    "batch_size": 4,
                    "crop": 32,
                    "workers": 0,
                    "val_fraction": 0.25,
                    "lr": 1e-3,
                    "checkpoint_every": 2,
                    **train_settings,
                }
            },
        ],
    )


def train_args(data: Path, out: Path, *extra: str, workers: int = 0) -> list[str]:
    """The CLI arguments of tiny_config (so the CLI and in-process runs train the same thing)."""
    return [
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--frames",
        "3",
        "--set",
        "model.base_channels=4",
        "--set",
        "model.growth=4",
        "--batch-size",
        "4",
        "--crop",
        "32",
        "--workers",
        str(workers),
        "--lr",
        "1e-3",
        "--set",
        "train.val_fraction=0.25",
        "--set",
        "train.checkpoint_every=2",
        "--quiet",
        *extra,
    ]


def final_state(run: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[float]]:
    """The run's weights, its last checkpoint's optimiser tensors, and its final learning rates."""
    folder = run / json.loads((run / "last.json").read_text())["dir"]
    with safe_open(str(folder / "state.safetensors"), framework="pt") as f:
        optimiser = {k: f.get_tensor(k) for k in f.keys() if k.startswith("opt.")}
    lrs = [g["lr"] for g in json.loads((folder / "state.json").read_text())["param_groups"]]
    return load_file(str(run / "model.safetensors")), optimiser, lrs


def assert_same_run(a: Path, b: Path) -> None:
    wa, oa, la = final_state(a)
    wb, ob, lb = final_state(b)
    assert la == lb
    assert wa.keys() == wb.keys() and oa.keys() == ob.keys() and oa
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-5, atol=1e-6, msg=k)
    for k in oa:
        torch.testing.assert_close(ob[k], oa[k], rtol=1e-5, atol=1e-7, msg=k)


def interrupt_at(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Stop training like Ctrl-C or SIGTERM right after ``step`` steps."""
    original = Trainer._train_step

    def stop(self, *batch):
        if self.step == step:
            raise KeyboardInterrupt
        return original(self, *batch)

    monkeypatch.setattr(Trainer, "_train_step", stop)


def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    """Exit code and stderr lines of ``blur2video ARGS`` run in this process (with ``capfd``, what
    DataLoader workers write to the process's stderr too)."""
    capsys.readouterr()
    code = cli.main(args)
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("blur2video: error: "), stderr
    return lines[0]


# ---- item 2: the lr schedule survives a resume -------------------------------------------------------


@pytest.fixture(scope="module")
def straight(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 uninterrupted steps; the rate halves after steps 4 and 6 (lr_milestones 0.5, 0.75)."""
    out = tmp_path_factory.mktemp("straight") / "run"
    train(tiny_config(dataset, steps=8), out, device="cpu", quiet=True)
    assert final_state(out)[2] == [2.5e-4]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("stop", [3, 4, 5, 7])
def test_a_run_stopped_before_at_or_after_a_milestone_resumes_exactly(
    stop: int, dataset: Path, straight: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny_config(dataset, steps=8)
    interrupt_at(monkeypatch, stop)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", device="cpu", quiet=True)
    saved = json.loads((tmp_path / "run" / "checkpoints" / f"step-{stop:08d}" / "state.json").read_text())
    assert saved["scheduler"]["milestones"] == {
        "4": 1,
        "6": 1,
    }  # the JSON the old code wrote too: loading turns it back into ints
    monkeypatch.undo()
    train(cfg, tmp_path / "run", device="cpu", resume=True, quiet=True)
    assert_same_run(straight, tmp_path / "run")


@pytest.mark.slow
def test_a_sigterm_with_two_workers_saves_exits_and_resumes_exactly(
    dataset: Path, straight: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """A real SIGTERM to a CLI run with DataLoader workers (which ignore it): a checkpoint, exit
    130 without a hang, and the resumed run (in this process: a fresh one costs 5 s of imports)
    ends where the uninterrupted one does."""
    run = tmp_path / "run"
    args = train_args(dataset, run, "--steps", "8", workers=2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "blur2video", *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while (
            not (run / "checkpoints" / "step-00000002").exists() and proc.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert run.joinpath("last.json").exists()
    code, err = run_cli(train_args(dataset, run, "--steps", "8", "--resume"), capfd)
    assert code == 0, err
    assert_same_run(straight, run)


def _raised_in(filename: str, exc: BaseException) -> threading.ExceptHookArgs:
    """What ``threading.excepthook`` gets for ``exc`` raised in a thread running code of ``filename``."""
    try:
        exec(compile("raise exc", filename, "exec"), {"exc": exc})
    except BaseException as raised:  # noqa: BLE001 - the test hands any exception to the hook
        return threading.ExceptHookArgs((type(raised), raised, raised.__traceback__, None))
    raise AssertionError("not raised")


def test_a_stop_mid_hand_over_prints_no_traceback_from_a_worker() -> None:
    """A SIGTERM that lands while a worker hands a batch over resets the connection of the worker's
    resource-sharer thread (seen as a traceback after 'interrupted' in the test above, now and
    then): a worker drops that error and passes on every other one."""
    sharer = os.path.join(os.path.dirname(multiprocessing.__file__), "resource_sharer.py")
    seen: list[type] = []
    hook = _quiet_hand_over_resets(lambda args: seen.append(args.exc_type))
    hook(_raised_in(sharer, ConnectionResetError(104, "Connection reset by peer")))
    hook(_raised_in(sharer, EOFError()))
    assert seen == []
    hook(_raised_in(sharer, ValueError("a real bug")))
    hook(_raised_in(__file__, ConnectionResetError(104, "Connection reset by peer")))
    assert seen == [ValueError, ConnectionResetError]


_FORK_SIGNAL = {"armed": False}


def _signal_after_fork() -> None:
    if _FORK_SIGNAL["armed"]:
        _FORK_SIGNAL["armed"] = False
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_sigterm_while_workers_are_forked_still_stops_and_saves(
    dataset: Path, tmp_path: Path, capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt raised inside an at-fork hook is printed and swallowed by Python: the
    signal must still stop the run (here it lands as the validation after step 2 forks its workers)."""
    os.register_at_fork(after_in_parent=_signal_after_fork)
    original = Trainer._train_step

    def arm_at_second_step(self, *batch):
        if self.step == 1:
            _FORK_SIGNAL["armed"] = True
        return original(self, *batch)

    monkeypatch.setattr(Trainer, "_train_step", arm_at_second_step)
    try:
        with pytest.raises(KeyboardInterrupt):
            train(tiny_config(dataset, steps=8, workers=2), tmp_path / "run", device="cpu", quiet=True)
    finally:
        _FORK_SIGNAL["armed"] = False
    assert json.loads((tmp_path / "run" / "last.json").read_text())["step"] == 2
    assert "Exception ignored" not in capfd.readouterr().err


def test_a_state_whose_rate_missed_a_halving_continues_on_the_schedule(
    dataset: Path, straight: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older blur2video resumed with string milestones and never halved again: its saved rate
    is too high. Resuming with this one puts the rate back on the schedule."""
    cfg = tiny_config(dataset, steps=8)
    interrupt_at(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", device="cpu", quiet=True)
    monkeypatch.undo()
    state_json = tmp_path / "run" / "checkpoints" / "step-00000005" / "state.json"
    doc = json.loads(state_json.read_text())
    assert doc["param_groups"][0]["lr"] == 5e-4
    doc["param_groups"][0]["lr"] = doc["scheduler"]["_last_lr"][0] = 1e-3  # the milestone at step 4 was lost
    state_json.write_text(json.dumps(doc))
    train(cfg, tmp_path / "run", device="cpu", resume=True, quiet=True)
    assert_same_run(straight, tmp_path / "run")


# ---- item 6: what the user sets on resume wins ---------------------------------------------------------


def test_after_a_nan_stop_the_advised_command_resumes_at_the_lower_rate(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import blur2video.objective as objective_module

    real = objective_module.compute_loss
    calls = {"n": 0}

    def nan_on_fourth(*args):
        calls["n"] += 1
        terms = real(*args)
        if calls["n"] == 4:
            terms["total"] = terms["total"] * float("nan")
        return terms

    run = tmp_path / "run"
    monkeypatch.setattr(objective_module, "compute_loss", nan_on_fourth)
    code, err = run_cli(train_args(dataset, run, "--steps", "8"), capsys)
    monkeypatch.undo()
    assert code == 2 and len(err) == 1 and "at step 4" in err[0] and "(step 2)" in err[0], err
    command = err[0].split("run: ", 1)[1].split(" (if it recurs", 1)[0]
    assert command == f"blur2video train --out {run} --resume --lr 0.0005"
    code, err = run_cli(command.split()[1:], capsys)
    assert code == 0, err
    # steps 3-8 ran at the new base rate: 5e-4 until the milestone at step 4, then halved twice
    assert final_state(run)[2] == [1.25e-4]
    assert tomllib.loads((run / "config.toml").read_text())["train"]["lr"] == 5e-4  # and a later plain resume keeps it


def test_a_lower_rate_on_resume_scales_the_rest_of_the_schedule(
    dataset: Path, straight: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny_config(dataset, steps=8)
    interrupt_at(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", device="cpu", quiet=True)
    monkeypatch.undo()
    lower = tiny_config(dataset, steps=8, lr=2e-4)
    trainer = Trainer(lower, tmp_path / "run", device="cpu", resume=True, quiet=True)
    # past the milestone at step 4: the new base rate, halved once; the rest of the schedule follows it
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-4] and trainer.scheduler.base_lrs == [2e-4]
    trainer.fit()
    trainer.close()
    assert final_state(tmp_path / "run")[2] == [5e-5]
    lowered, plain = final_state(tmp_path / "run")[0], final_state(straight)[0]
    assert any(not torch.equal(lowered[k], plain[k]) for k in plain)


def test_more_steps_on_resume_move_the_milestones_and_fewer_than_done_are_refused(
    dataset: Path, tmp_path: Path
) -> None:
    train(
        tiny_config(dataset, steps=4), tmp_path / "run", device="cpu", quiet=True
    )  # milestones at 2 and 3: ends at 2.5e-4
    longer = Trainer(tiny_config(dataset, steps=12), tmp_path / "run", device="cpu", resume=True, quiet=True)
    # 12 steps put the milestones at 6 and 9: at step 4 none has passed, the rate is back to 1e-3
    assert sorted(longer.scheduler.milestones) == [6, 9] and longer.optimizer.param_groups[0]["lr"] == 1e-3
    longer.fit()
    longer.close()
    assert (
        final_state(tmp_path / "run")[2] == [2.5e-4]
        and json.loads((tmp_path / "run" / "last.json").read_text())["step"] == 12
    )
    with pytest.raises(
        Blur2VideoError, match=r"at step 12, past the 6 steps this config trains; give --steps above 12"
    ):
        Trainer(tiny_config(dataset, steps=6), tmp_path / "run", device="cpu", resume=True, quiet=True)


def test_resume_refuses_another_model_or_part_naming_the_setting(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    assert run_cli(train_args(dataset, run, "--steps", "2"), capsys)[0] == 0
    before = final_state(run)[0]
    code, err = run_cli(train_args(dataset, run, "--steps", "4", "--resume", "--set", "model.growth=6"), capsys)
    assert code == 2 and len(err) == 1 and "model.growth = 4, this config 6" in err[0] and "train.init" in err[0], err
    code, err = run_cli(
        train_args(
            dataset,
            run,
            "--steps",
            "4",
            "--resume",
            "--set",
            "model.kernel_bank=true",
            "--set",
            'train.part="kernel_bank"',
        ),
        capsys,
    )
    assert code == 2 and len(err) == 1 and "model.kernel_bank = false" in err[0], err
    code, err = run_cli(
        train_args(dataset, run, "--steps", "4", "--resume", "--set", 'train.part="kernel_bank"'), capsys
    )
    assert code == 2 and len(err) == 1 and "model.kernel_bank = true" in err[0], err  # refused before any resume
    after = final_state(run)[0]
    assert all(torch.equal(before[k], after[k]) for k in before)


# ---- item 3 and 11: data errors end in one line, with workers, under DDP, and stay resumable --------------


@pytest.fixture
def broken(dataset: Path, tmp_path: Path) -> Path:
    """A copy of the dataset whose training sample 000005 has a truncated frame."""
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(dataset, root)
    frame = root / "samples" / "000005" / "frame_1.png"
    frame.write_bytes(frame.read_bytes()[:100])
    return root


@pytest.mark.slow
def test_a_corrupt_sample_with_two_workers_is_one_line_the_same_as_without_and_resumes_exactly(
    broken: Path, dataset: Path, straight: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """In this process (a fresh one costs 5 s of imports); ``capfd`` also holds what the forked
    workers write."""
    code, err = run_cli(train_args(broken, tmp_path / "inline", "--steps", "8"), capfd)
    assert code == 2 and len(err) == 1, err
    run = tmp_path / "run"
    code, with_workers = run_cli(train_args(broken, run, "--steps", "8", workers=2), capfd)
    line = one_error_line("\n".join(with_workers))
    assert code == 2 and line == err[0]
    assert f"{broken / 'samples' / '000005' / 'frame_1.png'}: not a readable image" in line and "--resume" in line
    stopped_at = json.loads((run / "last.json").read_text())["step"]
    assert f"stopped at step {stopped_at}:" in line
    (broken / "samples" / "000005" / "frame_1.png").write_bytes(
        (dataset / "samples" / "000005" / "frame_1.png").read_bytes()
    )
    code, err = run_cli(train_args(broken, run, "--steps", "8", "--resume", workers=2), capfd)
    assert code == 0, err
    assert_same_run(straight, run)


@pytest.mark.slow
def test_a_deleted_sample_folder_is_named_on_resume(
    dataset: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    import shutil

    root = tmp_path / "data"
    shutil.copytree(dataset, root)
    run = tmp_path / "run"
    code, err = run_cli(train_args(root, run, "--steps", "2", workers=2), capfd)
    assert code == 0, err
    shutil.rmtree(root / "samples" / "000000")
    code, err = run_cli(train_args(root, run, "--steps", "8", "--resume", workers=2), capfd)
    line = one_error_line("\n".join(err))
    assert code == 2 and str(root / "samples" / "000000") in line and "--resume" in line, line


def test_any_exception_of_a_sample_in_a_worker_is_one_line_naming_it(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only the library's own errors: whatever a sample raises inside a (forked) worker."""
    from blur2video.data.dataset import FolderDataset

    real = FolderDataset.__getitem__

    def fails_on_sample_2(self, i):
        if self.records[i]["id"] == "000002":
            raise ZeroDivisionError("float division by zero")
        return real(self, i)

    monkeypatch.setattr(FolderDataset, "__getitem__", fails_on_sample_2)
    code, err = run_cli(train_args(dataset, tmp_path / "run", "--steps", "8", workers=2), capsys)
    assert code == 2 and len(err) == 1, err
    assert (
        f"{dataset}: sample 000002: cannot be read (ZeroDivisionError: float division by zero)" in err[0]
        and "drop its row" in err[0]
    ), err


def test_a_crop_larger_than_the_samples_is_refused_before_the_first_step(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    small = tmp_path / "small"
    synthesize_rotation(
        "skimage:astronaut",
        small,
        4,
        RotationSettings(source_kind="photo", frames=3, size=64, fov_deg=60, max_angle_deg=1.0),
    )
    run = tmp_path / "run"
    code, err = run_cli(
        [
            "train",
            "--data",
            str(small),
            "--out",
            str(run),
            "--frames",
            "3",
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--set",
            "train.val_fraction=0.5",
            "--crop",
            "128",
        ],
        capsys,
    )  # a crop given (the default one fits itself to the samples) and 2 workers
    line = one_error_line("\n".join(err))
    assert code == 2 and "are 64x64" in line and "train.crop is 128" in line and "--crop 64" in line, line
    assert not run.joinpath("checkpoints").exists()
    (tmp_path / "n3.toml").write_text("[model]\nframes = 3\n[train]\ncrop = 128\n")
    code, err = run_cli(
        [
            "ablate",
            "--data",
            str(small),
            "--val-data",
            str(small),
            "--config",
            str(tmp_path / "n3.toml"),
            "--out",
            str(tmp_path / "ablate"),
            "--steps",
            "1",
            "--variants",
            "full",
        ],
        capsys,
    )
    assert code == 2 and len(err) == 1 and "train.crop = 128 is larger than the 64x64 samples" in err[0], err
    assert "set train.crop to 64 or less in the config" in err[0]  # ablate has no --crop to name
    assert not (tmp_path / "ablate").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_with_a_corrupt_sample_stops_every_rank_with_one_line(broken: Path, tmp_path: Path) -> None:
    """Two gloo ranks as torchrun starts them: the rank whose batch holds the bad sample tells the
    other, both exit 2 at the same step, rank 0 prints the line and rank 1 nothing."""
    port = str(_free_port())
    args = [sys.executable, "-m", "blur2video", *train_args(broken, tmp_path / "run", "--steps", "8", workers=1)]
    procs = [
        subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "OMP_NUM_THREADS": "1",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": port,
                "RANK": str(r),
                "LOCAL_RANK": str(r),
                "WORLD_SIZE": "2",
            },
        )
        for r in range(2)
    ]
    try:
        results = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [2, 2], results
    line = one_error_line(results[0][1])
    assert "000005/frame_1.png: not a readable image" in line and "--resume" in line
    assert results[1][1].strip() == ""


# ---- item 9: damaged checkpoints and last.json -------------------------------------------------------


def _rewrite_metadata(path: Path, change: dict) -> None:
    with safe_open(str(path), framework="pt") as f:
        meta = {k: v for k, v in (f.metadata() or {}).items() if k not in change}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update({k: v for k, v in change.items() if v is not None})
    save_file(tensors, str(path), metadata=meta)


@pytest.mark.parametrize(
    "change, says",
    [
        ({"model_config": None}, "no model_config metadata"),
        ({"model_config": "{frames: 3"}, "model_config metadata is not JSON"),
        ({"model_config": "[3, 5]"}, "model_config metadata is a list"),
        ({"model_config": '"small"'}, "model_config metadata is a str"),
        ({"model_config": json.dumps({"frames": -3})}, "frames=-3"),
        ({"model_config": json.dumps({"frames": "seven"})}, "wrongly typed"),
    ],
)
def test_a_damaged_model_config_is_one_line_naming_the_checkpoint(
    change: dict, says: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ckpt = tmp_path / "model.safetensors"
    save_model(ckpt, Blur2Video(ModelConfig(frames=3, **TINY)))
    _rewrite_metadata(ckpt, change)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "photo.png")
    code, err = run_cli(
        [
            "restore",
            str(tmp_path / "photo.png"),
            "--checkpoint",
            str(ckpt),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 2 and len(err) == 1 and err[0].startswith(f"blur2video: error: {ckpt}: ") and says in err[0], err


def test_nan_weights_are_refused_when_loading(tmp_path: Path, dataset: Path) -> None:
    model = Blur2Video(ModelConfig(frames=3, **TINY))
    with torch.no_grad():
        next(iter(model.parameters()))[0] = float("nan")
    ckpt = tmp_path / "nan.safetensors"
    save_model(ckpt, model)
    with pytest.raises(Blur2VideoError, match=rf"^{ckpt}: 1 weight tensors hold NaN or infinite values \(e.g. "):
        load_model(ckpt)
    with pytest.raises(Blur2VideoError, match=rf"^{ckpt}: 1 weight tensors hold NaN"):
        Trainer(tiny_config(dataset, steps=1, init=str(ckpt)), tmp_path / "run", device="cpu", quiet=True)


@pytest.fixture(scope="module")
def four_steps(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("four") / "run"
    train(tiny_config(dataset, steps=4), run, device="cpu", quiet=True)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000002", "step-00000004"]
    return run


@pytest.fixture
def two_checkpoints(four_steps: Path, tmp_path: Path) -> Path:
    """A copy of a finished 4-step run: checkpoints at steps 2 and 4, last.json at 4."""
    import shutil

    return Path(shutil.copytree(four_steps, tmp_path / "run"))


def _follow_advice(line: str) -> None:
    """Run the shell command an error line ends with (after 'run: ')."""
    subprocess.run(["bash", "-c", line.split("run: ", 1)[1]], check=True)


@pytest.mark.parametrize("damage", ['{"step": 4, "dir"', "[]", '{"step": 4}', ""])
def test_a_damaged_last_json_is_one_line_whose_command_repairs_it(
    damage: str, two_checkpoints: Path, dataset: Path, capsys: pytest.CaptureFixture
) -> None:
    last = two_checkpoints / "last.json"
    last.write_text(damage)
    code, err = run_cli(train_args(dataset, two_checkpoints, "--steps", "4", "--resume"), capsys)
    assert (
        code == 2
        and len(err) == 1
        and err[0].startswith(f"blur2video: error: {last}: ")
        and "to resume from step-00000004" in err[0]
    ), err
    _follow_advice(err[0])
    assert json.loads(last.read_text()) == {"step": 4, "dir": "checkpoints/step-00000004"}
    assert run_cli(train_args(dataset, two_checkpoints, "--steps", "4", "--resume"), capsys)[0] == 0


@pytest.mark.parametrize("elsewhere", ["../../outside", "checkpoints/../../outside", "/tmp"])
def test_a_last_json_pointing_outside_the_run_is_refused(
    elsewhere: str, two_checkpoints: Path, dataset: Path, capsys: pytest.CaptureFixture
) -> None:
    outside = two_checkpoints.parent / "outside"
    save_model(outside / "model.safetensors", Blur2Video(ModelConfig(frames=3, **TINY)))
    (two_checkpoints / "last.json").write_text(json.dumps({"step": 4, "dir": elsewhere}))
    code, err = run_cli(train_args(dataset, two_checkpoints, "--steps", "4", "--resume"), capsys)
    assert code == 2 and len(err) == 1 and "lies outside" in err[0] and "delete" not in err[0], err
    assert (outside / "model.safetensors").exists()


def test_a_broken_newest_checkpoint_points_to_the_one_before(
    two_checkpoints: Path, dataset: Path, capsys: pytest.CaptureFixture
) -> None:
    weights = two_checkpoints / "checkpoints" / "step-00000004" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    code, err = run_cli(train_args(dataset, two_checkpoints, "--steps", "4", "--resume"), capsys)
    assert code == 2 and len(err) == 1 and str(weights) in err[0] and "to resume from step-00000002" in err[0], err
    _follow_advice(err[0])
    assert run_cli(train_args(dataset, two_checkpoints, "--steps", "4", "--resume"), capsys)[0] == 0
    assert json.loads((two_checkpoints / "last.json").read_text())["step"] == 4
