"""The trainer: learning, resume equivalence, DDP equivalence, checkpoint refusal, NaN handling."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from blur2video.checkpoints import load_model, save_model
from blur2video.errors import Blur2VideoError
from blur2video.losses import LossConfig, compute_loss
from blur2video.model.config import ModelConfig
from blur2video.model.network import Blur2Video
from blur2video.synth.api import synthesize_rotation
from blur2video.synth.rotation import RotationSettings
from blur2video.train import Trainer, train
from blur2video.train_config import TrainingConfig, resolve

TINY = {"base_channels": 4, "growth": 4}


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "rot3"
    settings = RotationSettings(source_kind="photo", frames=3, size=32, fov_deg=60, max_angle_deg=2.0, seed=3)
    synthesize_rotation("skimage:astronaut,rocket", root, 12, settings)
    return root


def tiny_config(dataset: Path, model: dict | None = None, data: dict | None = None, **train) -> TrainingConfig:
    return resolve(
        None,
        [
            {"model": {"frames": 3, **TINY, **(model or {})}},
            {"data": {"path": str(dataset), **(data or {})}},
            {
                "train": {
                    "batch_size": 4,
                    "crop": 32,
                    "workers": 0,
                    "val_fraction": 0.25,
                    "lr": 1e-3,
                    "checkpoint_every": 2,
                    **train,
                }
            },
        ],
    )


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def test_tiny_model_overfits_one_batch() -> None:
    import skimage.data

    torch.manual_seed(0)
    model = Blur2Video(ModelConfig(frames=3, **TINY))
    photo = torch.from_numpy(skimage.data.astronaut()[::4, ::4]).permute(2, 0, 1).float() / 255
    # a real texture moving right by 2 px per frame: frames (1, 3, 3, 32, 32) and their mean
    frames = torch.stack([photo[:, 40:72, 40 + 2 * t : 72 + 2 * t] for t in range(3)]).unsqueeze(0)
    blur = frames.mean(1)
    # threefold in about 120 steps (fivefold took 200: 0.12 s a step is the ops' own overhead)
    opt = torch.optim.Adam(model.parameters(), lr=6e-3)
    cfg = LossConfig(consistency=False, penalty=False)
    losses = []
    for _ in range(200):  # at most; it stops once the loss is down threefold
        loss = compute_loss(model(blur), frames, cfg)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if losses[-1] < losses[0] / 3:
            break
    assert losses[-1] < losses[0] / 3, (losses[0], losses[-1])


def test_resumed_run_ends_with_the_same_weights(
    tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny_config(tiny_dataset, steps=6)
    train(cfg, tmp_path / "straight", device="cpu", quiet=True)

    original = Trainer._train_step

    def interrupt_at_4(self, *batch):
        if self.step == 4:
            raise KeyboardInterrupt
        return original(self, *batch)

    monkeypatch.setattr(Trainer, "_train_step", interrupt_at_4)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", device="cpu", quiet=True)
    assert json.loads((tmp_path / "cut" / "last.json").read_text())["step"] == 4
    monkeypatch.setattr(Trainer, "_train_step", original)
    with pytest.raises(Blur2VideoError, match="--resume"):
        train(cfg, tmp_path / "cut", device="cpu", quiet=True)
    train(cfg, tmp_path / "cut", device="cpu", resume=True, quiet=True)

    a, b = weights(tmp_path / "straight"), weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    # the weights really moved
    fresh = Blur2Video(ModelConfig(frames=3, **TINY)).state_dict()
    assert any(not torch.allclose(a[k], fresh[k]) for k in a)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, cfg: dict, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    train(cfg, out, device="cpu", quiet=True)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tiny_dataset: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_dataset, steps=3, val_batches=1)
    torch.set_num_threads(1)
    train(cfg, tmp_path / "single", device="cpu", quiet=True)
    mp.start_processes(_ddp_worker, args=(2, _free_port(), cfg, str(tmp_path / "ddp")), nprocs=2, start_method="spawn")
    a, b = weights(tmp_path / "single"), weights(tmp_path / "ddp")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(
    tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import blur2video.objective as objective_module

    real = objective_module.compute_loss
    calls = {"n": 0}

    def nan_on_third(*args):
        calls["n"] += 1
        terms = real(*args)
        if calls["n"] == 3:
            terms["total"] = terms["total"] * float("nan")
        return terms

    monkeypatch.setattr(objective_module, "compute_loss", nan_on_third)
    cfg = tiny_config(tiny_dataset, steps=6)
    with pytest.raises(Blur2VideoError, match="at step 3"):
        train(cfg, tmp_path / "run", device="cpu", quiet=True)
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    assert last["step"] == 2
    load_model(tmp_path / "run" / last["dir"] / "model.safetensors")  # the good one still loads


def test_foreign_truncated_and_mismatched_checkpoints_are_refused(tmp_path: Path) -> None:
    model = Blur2Video(ModelConfig(frames=3, **TINY))
    good = tmp_path / "good.safetensors"
    save_model(good, model)
    loaded, meta = load_model(good)
    assert loaded.config == model.config and meta["arch"] == "blur2video"

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(Blur2VideoError, match="truncated"):
        load_model(truncated)

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(Blur2VideoError, match="not a blur2video model"):
        load_model(foreign)

    with pytest.raises(Blur2VideoError, match="restores 3 frames but the data has 7"):
        load_model(good, expect_frames=7)

    (tmp_path / "text.safetensors").write_text("hello")
    with pytest.raises(Blur2VideoError):
        load_model(tmp_path / "text.safetensors")


def test_resume_with_another_architecture_is_refused(tiny_dataset: Path, tmp_path: Path) -> None:
    train(tiny_config(tiny_dataset, steps=2), tmp_path / "run", device="cpu", quiet=True)
    other = resolve(
        None,
        [
            {"model": {"frames": 3, "base_channels": 6, "growth": 4}},
            {"data": {"path": str(tiny_dataset)}},
            {"train": {"batch_size": 4, "crop": 32, "workers": 0, "val_fraction": 0.25, "steps": 4}},
        ],
    )
    with pytest.raises(Blur2VideoError, match="do not fit this architecture"):
        train(other, tmp_path / "run", device="cpu", resume=True, quiet=True)


def test_config_typos_are_refused(tmp_path: Path) -> None:
    with pytest.raises(Blur2VideoError, match="unknown key train.lrr"):
        resolve(None, [{"train": {"lrr": 1.0}}])
    with pytest.raises(Blur2VideoError, match="expected an integer"):
        resolve(None, [{"train": {"steps": "many"}}])
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr = 1")
    with pytest.raises(Blur2VideoError, match="not valid TOML"):
        resolve(bad, [])


def test_sigterm_saves_a_checkpoint_like_ctrl_c(
    tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    original = Trainer._train_step

    def terminate_at_2(self, *batch):
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, *batch)

    monkeypatch.setattr(Trainer, "_train_step", terminate_at_2)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tiny_dataset, steps=6, checkpoint_every=100), tmp_path / "run", device="cpu", quiet=True)
    assert json.loads((tmp_path / "run" / "last.json").read_text())["step"] in (2, 3)
    assert signal.getsignal(signal.SIGTERM) is not None


def test_init_warm_starts_every_tensor_that_fits(tiny_dataset: Path, tmp_path: Path) -> None:
    torch.manual_seed(1)
    donor = Blur2Video(ModelConfig(frames=3, **TINY))
    save_model(tmp_path / "donor.safetensors", donor)
    thinner = {"dense_layers": [5, 5, 5, 1, 1]}  # another depth at the two finest blocks
    cfg = tiny_config(tiny_dataset, thinner, steps=1, init=str(tmp_path / "donor.safetensors"))
    trainer = Trainer(cfg, tmp_path / "run", device="cpu", quiet=True)
    own, given = trainer.model.state_dict(), donor.state_dict()
    fitting = [k for k in own if k in given and own[k].shape == given[k].shape]
    assert 0 < len(fitting) < len(own)
    assert all(torch.equal(own[k], given[k]) for k in fitting)
    assert "middle_decoder.blocks.4.dense.convs.1.0.weight" not in own  # the thinner block really is thinner

    cfg = tiny_config(tiny_dataset, thinner, steps=1, init=str(tmp_path / "missing.safetensors"))
    with pytest.raises(Blur2VideoError, match="train.init"):
        Trainer(cfg, tmp_path / "run2", device="cpu", quiet=True)


def test_kernel_bank_part_trains_that_head_alone(tiny_dataset: Path, tmp_path: Path) -> None:
    """train.part = "kernel_bank": only the head's weights move; the rest stays bit for bit."""
    cfg = tiny_config(tiny_dataset, {"kernel_bank": True}, steps=2, part="kernel_bank")
    trainer = Trainer(cfg, tmp_path / "run", device="cpu", quiet=True)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    trainer.close()
    after = trainer.model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("kernel_bank.") for k in moved)
    assert any(k.startswith("kernel_bank.classifier.0.") for k in moved)

    with pytest.raises(Blur2VideoError, match="model.kernel_bank = true"):
        tiny_config(tiny_dataset, steps=2, part="kernel_bank")
    with pytest.raises(Blur2VideoError, match="train.part"):
        tiny_config(tiny_dataset, steps=2, part="encoder")


def test_real_validation_set_is_tracked_as_gains_over_the_blur(tiny_dataset: Path, tmp_path: Path) -> None:
    """data.val_real: every validation row carries the gains over the blur on that set, equal to
    the model's PSNR minus the blur's computed independently here."""
    from blur2video.data.dataset import FolderDataset
    from blur2video.metrics import order_invariant_psnr

    cfg = tiny_config(tiny_dataset, data={"val_real": str(tiny_dataset)}, steps=2)
    trainer = Trainer(cfg, tmp_path / "run", device="cpu", quiet=True)
    trainer.fit()
    trainer.close()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("real_gain_middle" in r for r in rows)
    real = FolderDataset(tiny_dataset)
    model = trainer.model.eval()
    gains = []
    with torch.no_grad():
        for blur, frames in (real[i] for i in range(len(real))):
            pred = model(blur[None]).frames.float()
            ours = order_invariant_psnr(pred, frames[None])[0].clamp(max=100)
            base = order_invariant_psnr(blur[None, None].expand_as(frames[None]), frames[None])[0].clamp(max=100)
            gains.append((ours - base)[0])
    mean_gain = torch.stack(gains).mean(0)
    assert rows[-1]["real_gain_middle"] == pytest.approx(float(mean_gain[1]), abs=1e-3)
    assert rows[-1]["real_gain_mean"] == pytest.approx(float(mean_gain.mean()), abs=1e-3)
    cfg = tiny_config(tiny_dataset, data={"val_real": str(tmp_path / "nothing")}, steps=2)
    with pytest.raises(Blur2VideoError, match="nothing: no such folder"):
        Trainer(cfg, tmp_path / "run2", device="cpu", quiet=True)


def test_gate_part_trains_the_gate_alone_and_lowers_its_loss(tiny_dataset: Path, tmp_path: Path) -> None:
    """train.part = "gate": only the confidence gate's weights move, and its frames' error falls."""
    cfg = tiny_config(tiny_dataset, {"gate": True}, steps=4, part="gate", lr=1e-2)
    trainer = Trainer(cfg, tmp_path / "run", device="cpu", quiet=True)
    with torch.no_grad():  # an untrained network returns the blur for every frame: nothing to gate
        for name, p in trainer.model.named_parameters():
            if name.startswith("frame_decoders."):
                p.add_(0.05 * torch.randn_like(p))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    blur, frames, *_ = next(iter(trainer._loader(0, 0)))
    first = trainer._train_step(blur, frames)["gate_mse"]
    for _ in range(5):
        last = trainer._train_step(blur, frames)["gate_mse"]
    trainer.close()
    after = trainer.model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("gate.") for k in moved)
    assert last < first
    with pytest.raises(Blur2VideoError, match="model.gate = true"):
        tiny_config(tiny_dataset, steps=4, part="gate")


def test_stream_order_flags_reach_the_loss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import blur2video.objective as objective_module

    real, seen = objective_module.compute_loss, []

    def record(out, targets, config, order_free=None):
        seen.append(order_free)
        return real(out, targets, config, order_free)

    monkeypatch.setattr(objective_module, "compute_loss", record)
    stream = {"kind": "scenes", "size": 32, "textures": "skimage:camera", "order_invariant": True}
    cfg = resolve(
        None,
        [
            {
                "model": {"frames": 3, **TINY},
                "data": {"stream": [stream], "samples_per_epoch": 4, "val_samples": 2},
                "train": {"batch_size": 2, "crop": 32, "workers": 0, "steps": 2, "checkpoint_every": 2},
            }
        ],
    )
    train(cfg, tmp_path / "run", device="cpu", quiet=True)
    assert len(seen) == 2 and all(f is not None and f.tolist() == [True, True] for f in seen)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_writes_get_the_mode_the_umask_gives(tiny_dataset: Path, tmp_path: Path, umask: int) -> None:
    """Weights, checkpoints and reports are written through mkstemp, which makes 0600 files; they
    must end with the mode a plain open() would give, like every other file the tool writes."""
    from blur2video.fileio import atomic_write_bytes

    old = os.umask(umask)
    try:
        train(tiny_config(tiny_dataset, steps=2), tmp_path / "run", device="cpu", quiet=True)
        atomic_write_bytes(tmp_path / "report.json", b"{}")
    finally:
        os.umask(old)
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    written = [
        tmp_path / "report.json",
        tmp_path / "run" / "model.safetensors",
        *(tmp_path / "run" / last["dir"]).iterdir(),
    ]
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: oct(0o666 & ~umask) for p in written}


def test_train_threads_bound_the_stream_renderer_too() -> None:
    """`train --threads 1` on a shared machine must not let the camera-rotation streams render
    their views on every core behind torch's back."""
    from blur2video.cli import _training_threads
    from blur2video.geometry import sampling

    torch_before = torch.get_num_threads()
    try:
        _training_threads(1)
        assert torch.get_num_threads() == 1 and sampling.render_threads() == 1
    finally:
        torch.set_num_threads(torch_before)
        sampling.set_render_threads(None)


def test_data_workers_render_on_one_thread_each() -> None:
    """torch runs on one thread in each DataLoader worker; the rotation streams' renderer must too,
    or W workers would render on W x cores threads."""
    import numpy as np
    from torch.utils.data import DataLoader

    from blur2video.geometry import EquirectImage, PinholeCamera, sampling, view_orientation
    from blur2video.train import _init_data_worker

    class Threads(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> int:
            return sampling.render_threads()

    # the parent renders first, as training's validation does before its workers fork: resizing
    # OpenCV's inherited pool in the child hung there
    pano = EquirectImage(np.random.default_rng(0).random((32, 64, 3), dtype=np.float32))
    pano.render(view_orientation(0.0, 0.0), PinholeCamera(16, 16, 60.0))
    loader = DataLoader(
        Threads(),
        batch_size=None,
        num_workers=1,
        worker_init_fn=_init_data_worker,
        multiprocessing_context="fork",
        timeout=60,  # a hung worker fails the test instead of the suite
    )
    assert list(loader) == [1, 1]
