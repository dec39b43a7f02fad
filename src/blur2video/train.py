"""The trainer: data, optimiser, schedule, checkpoints, resume, DDP and logging (paper section 5).
What it minimises, and over which parameters (``train.part``), is the objective's (objective.py).

One process by default; under ``torchrun`` (WORLD_SIZE > 1) it is data-parallel (gloo on CPU,
nccl on CUDA), ``train.batch_size`` is the global batch, and only rank 0 writes. Batches come from
a DistributedSampler seeded by (seed, epoch), so K processes see exactly the batches one process
would, and a resumed run skips to the batch it stopped at: an interrupted-and-resumed run ends
with the weights of an uninterrupted one. What the config sets on resume wins over the saved
schedule (train.lr, and the milestones that train.steps or epochs and train.lr_milestones give);
another model or train.part is refused. A sample that cannot be read, in a DataLoader worker or
not, on any rank, stops training with one line naming it, after a checkpoint of the steps taken.

RUN/ holds ``config.toml`` (resolved), ``checkpoints/step-NNNNNNNN/`` (model.safetensors,
state.safetensors, state.json), ``last.json`` (the newest complete checkpoint), ``model.safetensors``
(latest weights), ``best.safetensors`` (best validation PSNR), ``metrics.jsonl`` (with the gains
over the blur on ``data.val_real``, real blurred photos, where given) and ``tb/``.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tomli_w
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, default_collate

from . import progress
from .checkpoints import (
    ARCHS,
    load_matching_weights,
    load_training_state,
    load_weights,
    model_config_of,
    read_metadata,
    read_tensors,
    save_model,
    save_training_state,
)
from .data.dataset import FolderDataset, StreamDataset
from .errors import Blur2VideoError
from .fileio import atomic_folder, atomic_write_bytes
from .geometry.sampling import set_render_threads
from .metrics import order_invariant_psnr
from .objective import objective_for
from .runtime import keep_freed_memory, pick_device
from .train_config import TrainingConfig
from .train_data import build_datasets, real_validation_set


class Trainer:
    def __init__(
        self,
        cfg: TrainingConfig,
        out: str | Path,
        device: str = "auto",
        amp: bool = False,
        resume: bool = False,
        quiet: bool = False,
        desc: str = "train",
    ) -> None:
        self.cfg, self.out, self.quiet, self.desc = cfg, Path(out), quiet, desc
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        keep_freed_memory()  # training moves large tensors (see blur2video.runtime)
        self.device = pick_device(device)
        if self.world > 1 and not dist.is_initialized():
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        t = cfg.train
        if t.batch_size % self.world:
            raise Blur2VideoError(
                f"train.batch_size {t.batch_size} is the global batch: it must divide by the {self.world} processes"
            )
        self.local_batch = t.batch_size // self.world
        self.amp = amp and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.amp and torch.cuda.is_bf16_supported() else torch.float16

        self.model_cfg = cfg.model
        torch.manual_seed(t.seed)
        self.model = ARCHS[cfg.arch](self.model_cfg).to(self.device)
        if t.init and not (resume and (self.out / "last.json").exists()):  # a resumed run has its own weights
            copied, total = load_matching_weights(self.model, t.init)
            if self.rank == 0 and not quiet:
                progress.say(f"started from {t.init}: {copied} of {total} tensors")
        self.train_set, self.val_set = build_datasets(cfg, self.model_cfg.frames)
        self.real_set = real_validation_set(cfg, self.model_cfg.frames)
        _check_crop(t.crop, self.train_set)
        self.sampler = DistributedSampler(
            self.train_set, num_replicas=self.world, rank=self.rank, shuffle=True, seed=t.seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // self.local_batch
        if self.steps_per_epoch == 0:
            raise Blur2VideoError(
                f"{len(self.train_set)} training samples make no batch of {t.batch_size}; lower --batch-size "
                f"(train.batch_size) or add data"
            )
        self.total_steps = t.steps if t.steps > 0 else t.epochs * self.steps_per_epoch
        self.objective = objective_for(self.model, t.part, cfg.loss, self.amp, self.amp_dtype)
        self.optimizer = torch.optim.Adam(self.objective.trained.parameters(), lr=t.lr, betas=(0.9, 0.999))
        self.milestones = sorted({max(1, int(f * self.total_steps)) for f in t.lr_milestones})
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, self.milestones, gamma=0.5)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.step, self.wall, self.best, self.saved_step = 0, 0.0, -math.inf, 0
        self.stop = _Stop()
        self._prepare_run_dir(resume)
        # the objective holds the network: wrapped whole, the loss is computed inside DDP's forward
        self.ddp = DistributedDataParallel(self.objective) if self.world > 1 else self.objective
        self.writer = None
        if self.rank == 0:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tb"), purge_step=self.step + 1 if resume else None)

    # ---- run folder, checkpoints ------------------------------------------------------------
    def _prepare_run_dir(self, resume: bool) -> None:
        last = self.out / "last.json"
        if last.exists() and not resume:
            raise Blur2VideoError(
                f"{self.out}: already holds a run; pass --resume to continue it or choose another --out"
            )
        if resume and last.exists():
            self._resume(self._checkpoint_named_by(last))
        elif resume and self.rank == 0:  # a typo in --out would otherwise train anew without a word
            progress.say(f"nothing to resume in {self.out} (no last.json): training from step 0")
        if self.rank == 0:
            (self.out / "checkpoints").mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.out / "config.toml", tomli_w.dumps(self.cfg.as_dict()).encode())

    def _checkpoint_named_by(self, last: Path) -> Path:
        """The folder last.json names; a damaged pointer, or one that leads out of this run's
        checkpoints/ folder, is refused in one line (nothing is read from or removed there)."""
        try:
            saved = json.loads(last.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Blur2VideoError(f"{last}: damaged ({type(exc).__name__}: {exc}); {self._pointer_fix()}") from None
        name = saved.get("dir") if isinstance(saved, dict) else None
        if not isinstance(name, str) or not name:
            raise Blur2VideoError(f'{last}: names no checkpoint folder (it needs "dir"); {self._pointer_fix()}')
        own = (self.out / "checkpoints").resolve()
        folder = (self.out / name).resolve()
        if folder.parent != own:
            raise Blur2VideoError(
                f'{last}: "dir" = {name!r} lies outside {self.out / "checkpoints"}, and a run resumes only from '
                f"its own checkpoints; "
                f"{self._pointer_fix()}"
            )
        return self.out / "checkpoints" / folder.name

    def _pointer_fix(self, broken: str = "") -> str:
        """The command that points last.json at the newest complete checkpoint other than ``broken``."""
        last = self.out / "last.json"
        folders = sorted(
            p.name
            for p in (self.out / "checkpoints").glob("step-*")
            if p.name != broken
            and p.name[5:].isdigit()
            and (p / "model.safetensors").is_file()
            and (p / "state.json").is_file()
        )
        if not folders:
            return f"no other complete checkpoint is in {self.out / 'checkpoints'}: start the run again in a new --out"
        pointer = json.dumps({"step": int(folders[-1][5:]), "dir": f"checkpoints/{folders[-1]}"})
        return f"to resume from {folders[-1]}, run: echo {shlex.quote(pointer)} > {shlex.quote(str(last))}"

    def _resume(self, folder: Path) -> None:
        """Load the weights, optimiser, RNG and schedule saved in ``folder``; settings the user
        changed since (the rate, the length of training) then win over the saved ones."""
        weights = folder / "model.safetensors"
        fix = self._pointer_fix(broken=folder.name)
        if not weights.is_file():
            raise Blur2VideoError(f"{weights}: missing, so checkpoint {folder.name} is incomplete; {fix}")
        try:
            meta = read_metadata(weights)
        except Blur2VideoError as exc:
            raise Blur2VideoError(f"{exc}; {fix}") from None
        self._refuse_model_change(meta, weights)
        state = read_tensors(weights, "the weights", fix)
        load_weights(self.model, {k: v.to(self.device) for k, v in state.items()}, str(weights), fix)
        info = load_training_state(folder, self.optimizer, self.scheduler, fix)
        self.step, self.wall, self.best = info["step"], info["wall_seconds"], info.get("best_psnr", -math.inf)
        self.saved_step = self.step
        self._continue_schedule()

    def _refuse_model_change(self, meta: dict[str, str], weights: Path) -> None:
        """A resumed run keeps the model (and the trained part) it started with; a config that
        asks for another is refused naming the first setting that differs."""
        keep = (
            f"drop the change to resume, or train into a new --out with train.init = {weights} (it starts from "
            f"every tensor that fits)"
        )
        arch = meta.get("arch")
        if arch != self.cfg.arch:
            raise Blur2VideoError(
                f"{weights}: the run trains model.arch = {arch!r}, this config {self.cfg.arch!r}; {keep}"
            )
        theirs, ours = model_config_of(meta, weights).as_dict(), self.model_cfg.as_dict()
        for key in ours:
            if theirs.get(key) != ours[key]:
                raise Blur2VideoError(
                    f"{weights}: the run's model has model.{key} = {json.dumps(theirs.get(key))}, this config "
                    f"{json.dumps(ours[key])}: "
                    f"a resumed run keeps its model and these weights do not fit this architecture; {keep}"
                )
        try:
            saved_part = json.loads(meta.get("train_config", "{}"))["train"]["part"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return
        if saved_part != self.cfg.train.part:
            raise Blur2VideoError(
                f"{weights}: the run trains train.part = {saved_part!r}, this config {self.cfg.train.part!r}: its "
                f"optimiser state is for that part; {keep}"
            )

    def _continue_schedule(self) -> None:
        """After loading the saved schedule, the config's train.lr and milestones (from train.steps
        or epochs and train.lr_milestones) take over: the rate becomes train.lr halved once per
        milestone already passed, so a lower train.lr on resume scales the rest of the schedule.
        Unchanged settings give the saved rate bit for bit (halving is exact)."""
        if self.step > self.total_steps:
            raise Blur2VideoError(
                f"{self.out}: the run is at step {self.step}, past the {self.total_steps} steps this config trains; "
                f"give --steps above {self.step} to train on, or use {self.out / 'model.safetensors'} as it is"
            )
        sched, base = self.scheduler, self.cfg.train.lr
        lr = base * sched.gamma ** sum(1 for m in self.milestones if m <= sched.last_epoch)
        saved_base, saved_milestones, saved_lr = (
            sched.base_lrs[0],
            sorted(sched.milestones.elements()),
            self.optimizer.param_groups[0]["lr"],
        )
        notes = []
        if base != saved_base:
            notes.append(f"train.lr {saved_base:g} -> {base:g}")
        if self.milestones != saved_milestones:
            notes.append(f"the rate halves at steps {self.milestones} (was {saved_milestones})")
        if not notes and saved_lr != lr:
            notes.append(f"the saved rate {saved_lr:g} had missed a halving (a resume by an older blur2video)")
        sched.milestones = Counter(self.milestones)
        sched.base_lrs = [base for _ in self.optimizer.param_groups]
        for group in self.optimizer.param_groups:
            group["initial_lr"], group["lr"] = base, lr
        sched._last_lr = [lr for _ in self.optimizer.param_groups]
        if notes and self.rank == 0 and not self.quiet:
            progress.say(f"resumed at step {self.step}: {'; '.join(notes)}; the rate is now {lr:g}")

    def save_checkpoint(self) -> Path:
        """Write checkpoints/step-N/ whole (temporary folder, then rename), then point last.json at it."""
        name = f"step-{self.step:08d}"
        final = self.out / "checkpoints" / name
        with atomic_folder(self.out / "checkpoints" / f".tmp-{name}", final) as tmp:
            extra = {"step": self.step, "train_config": self.cfg.as_dict()}
            save_model(tmp / "model.safetensors", self.model, extra)
            save_training_state(
                tmp,
                self.optimizer,
                self.scheduler,
                {"step": self.step, "wall_seconds": self.wall, "best_psnr": self.best},
            )
        atomic_write_bytes(
            self.out / "last.json", json.dumps({"step": self.step, "dir": f"checkpoints/{name}"}).encode()
        )
        self.saved_step = self.step
        shutil.copyfile(final / "model.safetensors", self.out / ".model.safetensors.tmp")
        os.replace(self.out / ".model.safetensors.tmp", self.out / "model.safetensors")
        kept = sorted(p for p in (self.out / "checkpoints").iterdir() if p.name.startswith("step-"))
        for old in kept[: -self.cfg.train.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    # ---- data -------------------------------------------------------------------------------
    def _loader(self, epoch: int, skip_batches: int) -> DataLoader:
        self.sampler.set_epoch(epoch)
        self.train_set.set_epoch(epoch)
        indices = list(iter(self.sampler))[: self.steps_per_epoch * self.local_batch][skip_batches * self.local_batch :]
        workers = self.cfg.train.workers
        return DataLoader(
            _Guarded(self.train_set),
            batch_size=self.local_batch,
            sampler=indices,
            num_workers=workers,
            drop_last=True,
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_init_data_worker if workers else None,
        )

    def _stop_on_failure(self, batch: object) -> None:
        """Stop every rank, with the failing rank's line, when any rank's batch is a
        :class:`_SampleFailure` (a collective under DDP: all ranks call it for every batch)."""
        line = batch.line(self.step) if isinstance(batch, _SampleFailure) else ""
        if self.world > 1:
            line = _first_line(line, self.device)
        if line:
            raise _DataStop(line)

    # ---- steps ------------------------------------------------------------------------------
    def _train_step(
        self, blur: torch.Tensor, frames: torch.Tensor, order_free: torch.Tensor | None = None
    ) -> dict[str, float]:
        blur, frames = blur.to(self.device, non_blocking=True), frames.to(self.device, non_blocking=True)
        terms = self.ddp(blur, frames, order_free)
        total = terms["total"]
        bad = torch.tensor(0.0 if torch.isfinite(total) else 1.0, device=self.device)
        if self.world > 1:
            dist.all_reduce(bad)
        if bad.item() > 0:
            lower = f"--resume --lr {self.cfg.train.lr / 2:g}"
            command = (
                f"blur2video train --out {shlex.quote(str(self.out))} {lower}"
                if self.world == 1
                else f"the same torchrun command with {lower}"
            )
            raise Blur2VideoError(
                f"loss is {total.item()} at step {self.step + 1}: training stopped, its last good checkpoint (step "
                f"{self.saved_step}) kept; "
                f"to continue from there at half the learning rate, run: {command} (if it recurs, check the data)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {k: v.item() for k, v in terms.items()}

    @torch.no_grad()
    def validate(self) -> dict:
        """Order-invariant PSNR per frame over the validation set (rank 0), and over the real-blur
        set ``data.val_real`` when there is one (``real_psnr_frames``, with the blur's own PSNR
        against every frame as ``real_blur_psnr_frames``, so its gain can be read off)."""
        val = self._scores(self.val_set, self.local_batch, self.cfg.train.val_batches)
        if self.real_set is not None:  # whole real photos, one at a time
            real = self._scores(self.real_set, 1, 0)
            val.update(real_psnr_frames=real["psnr_frames"], real_blur_psnr_frames=real["blur_psnr_frames"])
        return val

    def _scores(self, dataset, batch_size: int, max_batches: int) -> dict:
        self.model.eval()
        workers = self.cfg.train.workers
        loader = DataLoader(
            _Guarded(dataset),
            batch_size=batch_size,
            num_workers=workers,
            collate_fn=_collate,
            worker_init_fn=_init_data_worker if workers else None,
        )
        limit = max_batches or len(loader)
        scores, blur_scores, shown = [], [], None
        with _opened(loader, self.stop.held) as batches:
            for i, batch in enumerate(batches):
                if i >= limit:
                    break
                if isinstance(batch, _SampleFailure):
                    raise _DataStop(batch.line(self.step, "validation"))
                blur, frames = batch[0].to(self.device), batch[1].to(self.device)
                pred = self.model(blur).frames.float()
                per_frame, _ = order_invariant_psnr(pred, frames)
                scores.append(per_frame.clamp(max=100).cpu())
                blur_scores.append(
                    order_invariant_psnr(blur.unsqueeze(1).expand_as(frames), frames)[0].clamp(max=100).cpu()
                )
                if shown is None:
                    shown = (blur[:2].cpu(), pred[:2].clamp(0, 1).cpu(), frames[:2].cpu())
        self.model.train()
        per_frame = torch.cat(scores).mean(0).tolist()
        return {
            "psnr": float(np.mean(per_frame)),
            "psnr_frames": per_frame,
            "blur_psnr_frames": torch.cat(blur_scores).mean(0).tolist(),
            "shown": shown,
        }

    def _log_validation(self, epoch: int, val: dict) -> None:
        n = len(val["psnr_frames"])
        row = {
            "step": self.step,
            "epoch": epoch,
            "wall_seconds": round(self.wall, 1),
            "val_psnr": val["psnr"],
            "val_psnr_first": val["psnr_frames"][0],
            "val_psnr_middle": val["psnr_frames"][n // 2],
            "val_psnr_last": val["psnr_frames"][-1],
        }
        if "real_psnr_frames" in val:  # gains over the blur on real photos: the curve a checkpoint is chosen on too
            gain = [p - b for p, b in zip(val["real_psnr_frames"], val["real_blur_psnr_frames"], strict=False)]
            row.update(
                real_gain_first=gain[0],
                real_gain_middle=gain[n // 2],
                real_gain_last=gain[-1],
                real_gain_mean=float(np.mean(gain)),
            )
            for key in ("first", "middle", "last", "mean"):
                self.writer.add_scalar(f"val_real/gain_{key}_db", row[f"real_gain_{key}"], self.step)
        with open(self.out / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        self.writer.add_scalar("val/psnr", val["psnr"], self.step)
        for j, v in enumerate(val["psnr_frames"]):
            self.writer.add_scalar(f"val/psnr_frame_{j}", v, self.step)
        if val["shown"] is not None and epoch % self.cfg.train.image_every == 0:
            blur, pred, gt = val["shown"]
            for i in range(blur.shape[0]):
                top = torch.cat([blur[i], *pred[i]], dim=-1)
                bottom = torch.cat([blur[i], *gt[i]], dim=-1)
                self.writer.add_image(f"val/sample_{i}", torch.cat([top, bottom], dim=-2), self.step)
        if val["psnr"] > self.best:
            self.best = val["psnr"]
            save_model(
                self.out / "best.safetensors",
                self.model,
                {"step": self.step, "val_psnr": self.best, "train_config": self.cfg.as_dict()},
            )

    # ---- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train to ``total_steps``; returns the last validation figures."""
        t = self.cfg.train
        self.model.train()
        bar = progress.track(
            self.total_steps, self.desc, "step", initial=self.step, enabled=self.rank == 0 and not self.quiet
        )
        val: dict = {}
        previous = self.stop.install()
        try:
            if self.step == 0:  # where training starts: the curve's first point
                self._validate_on_rank0(0)
            while self.step < self.total_steps:
                epoch, skip = divmod(self.step, self.steps_per_epoch)
                started, seen = time.perf_counter(), 0
                with _opened(self._loader(epoch, skip), self.stop.held) as batches:
                    for batch in batches:
                        self.stop.check()
                        self._stop_on_failure(batch)
                        blur, frames, *order_free = batch
                        terms = self._train_step(blur, frames, *order_free)
                        self.step += 1
                        seen += blur.shape[0] * self.world
                        elapsed = time.perf_counter() - started
                        bar.update(1, loss=f"{terms['total']:.4f}", samples_s=f"{seen / max(elapsed, 1e-9):.1f}")
                        if self.writer is not None and self.step % t.log_every == 0:
                            for k, v in terms.items():
                                self.writer.add_scalar(f"train/{k}", v, self.step)
                            self.writer.add_scalar("train/lr", self.scheduler.get_last_lr()[0], self.step)
                            self.writer.add_scalar("train/samples_per_second", seen / max(elapsed, 1e-9), self.step)
                        epoch_done = self.step % self.steps_per_epoch == 0
                        if self.step % t.checkpoint_every == 0 or epoch_done or self.step == self.total_steps:
                            self.wall += time.perf_counter() - started
                            started, seen = time.perf_counter(), 0
                            if epoch_done or self.step == self.total_steps:
                                val = self._end_of_epoch(epoch)
                            if self.rank == 0:
                                self.save_checkpoint()
                        if self.step >= self.total_steps:
                            break
                self.wall += time.perf_counter() - started
        except KeyboardInterrupt:
            if self.rank == 0 and self.step > 0:
                self.save_checkpoint()
            raise
        except _DataStop:  # the steps taken are sound: keep them, so a resume after the fix loses none
            if self.rank == 0 and self.step > self.saved_step:
                self.save_checkpoint()
            if self.world > 1:  # no rank exits (and torchrun stops the rest) before rank 0 has saved
                dist.barrier()
            raise
        finally:
            bar.close()
            self.stop.uninstall(previous)
            if self.writer is not None:
                self.writer.flush()
        return {k: v for k, v in val.items() if k != "shown"}

    def _validate_on_rank0(self, epoch: int) -> dict:
        """Validate and log on rank 0 while the other ranks wait; a data failure there stops all
        ranks (the wait is a collective that carries rank 0's line, not a bare barrier)."""
        val: dict = {}
        line = ""
        if self.rank == 0:
            try:
                val = self.validate()
                self._log_validation(epoch, val)
            except _DataStop as exc:
                line = str(exc)
        if self.world > 1:
            line = _first_line(line, self.device)
        if line:
            raise _DataStop(line)
        return val

    def _end_of_epoch(self, epoch: int) -> dict:
        val = self._validate_on_rank0(epoch)
        if val and not self.quiet:
            progress.say(
                f"epoch {epoch} step {self.step}: validation PSNR {val['psnr']:.2f} dB (order-invariant, mean over "
                f"frames)"
            )
        return val

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


class _DataStop(Blur2VideoError):
    """A sample could not be read: training stops with its line, after saving the steps taken."""


@dataclass(frozen=True)
class _SampleFailure:
    """What a loader hands over instead of a batch when a sample cannot be read: a picklable
    line, so the main process stops with it (the same with workers as without) rather than a
    worker's traceback and a hang."""

    message: str
    fix: str

    def line(self, step: int, phase: str = "training") -> str:
        return " ".join(
            (
                f"{self.message}; {phase} stopped at step {step}: {self.fix}, then rerun the same command with --resume"
            ).split()
        )


class _Guarded(Dataset):
    """``dataset`` whose items never raise: a sample that fails becomes a :class:`_SampleFailure`
    naming it and the fix."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        if isinstance(dataset, FolderDataset):
            self.fix = f"restore or repair that sample, or drop its row from {dataset.root / 'index.jsonl'}"
        else:
            self.fix = "fix the stream's source or settings"

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> object:
        try:
            return self.dataset[i]
        except Blur2VideoError as exc:
            return _SampleFailure(str(exc), self.fix)
        except Exception as exc:  # any other failure (a torn file, a malformed row) is still this one sample's
            return _SampleFailure(
                f"{_sample_name(self.dataset, i)}: cannot be read ({type(exc).__name__}: {exc})", self.fix
            )


def _sample_name(dataset: Dataset, i: int) -> str:
    if isinstance(dataset, FolderDataset):
        record = dataset.records[i]
        ident = record.get("id", i) if isinstance(record, dict) else i
        return f"{dataset.root}: sample {ident}"
    return f"stream sample {i} of epoch {getattr(dataset, 'epoch', 0)}"


def _collate(items: list) -> object:
    """The batch, or the first failure among its samples."""
    failed = [x for x in items if isinstance(x, _SampleFailure)]
    return failed[0] if failed else default_collate(items)


@contextmanager
def _opened(loader: DataLoader, hold: Callable[[], AbstractContextManager]) -> Iterator[Iterator[object]]:
    """Batches of ``loader``, a dead worker's error as a :class:`_SampleFailure`. Its workers
    are forked inside ``hold()`` (no KeyboardInterrupt mid-fork), and on leaving, however the loop
    ended, they are shut down at once: they ignore SIGTERM (:func:`_init_data_worker`), so workers
    left for interpreter exit would hang it."""
    it = None

    def batches() -> Iterator[object]:
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except Exception as exc:  # e.g. a worker killed for memory
                batch = _SampleFailure(
                    f"a data-loading worker failed ({exc})",
                    "if memory ran out, lower train.workers or train.batch_size",
                )
            yield batch

    try:
        with hold():
            it = iter(loader)
        yield batches()
    finally:
        shutdown = getattr(it, "_shutdown_workers", None)  # only the multi-process iterator has workers
        if shutdown is not None:
            shutdown()


def _first_line(line: str, device: torch.device) -> str:
    """Under DDP: whether any rank failed, and then the first failing rank's line, on every rank."""
    flag = torch.tensor([1.0 if line else 0.0], device=device)
    dist.all_reduce(flag)
    if flag.item() == 0:
        return ""
    lines: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(lines, line)
    return next(text for text in lines if text)


def _check_crop(crop: int, dataset: Dataset) -> None:
    """A crop larger than the samples would fail in every worker at the first batch: refuse it
    before training, from the first sample's size (a DATASET's samples share one size) or a
    stream's ``size`` setting."""
    if not crop:
        return
    if isinstance(dataset, FolderDataset):
        size = dataset.sample_size()
        if size is None:
            return
        path, width, height = size
        if crop > min(width, height):
            raise Blur2VideoError(
                f"{dataset.root}: its samples are {width}x{height} (e.g. {path}) but train.crop is {crop}; "
                f"pass --crop {min(width, height)} or less (0: whole samples)"
            )
    elif isinstance(dataset, StreamDataset):
        for job in dataset.jobs:
            settings = job.settings() if callable(getattr(job, "settings", None)) else {}
            size = settings.get("size", 0) if isinstance(settings, dict) else 0
            if isinstance(size, int) and 0 < size < crop:
                raise Blur2VideoError(
                    f"[[data.stream]] {getattr(job, 'kind', 'stream')}: its samples are {size}x{size} but "
                    f"train.crop is {crop}; "
                    f"set train.crop to {size} or less (0: whole samples), or raise the stream's size"
                )


def _init_data_worker(worker_id: int) -> None:
    """A DataLoader worker renders its rotation streams on one thread, as torch runs on one there
    (the workers together fill the cores). It leaves SIGTERM to the main process (a scheduler
    signals the whole group), which saves a checkpoint and then shuts them down. A worker hands
    each batch's tensors over through multiprocessing's resource-sharer thread; a stop that lands
    mid-hand-over resets that thread's connection, which is the stop itself, not a traceback to print."""
    set_render_threads(1, forked=True)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.excepthook = _quiet_hand_over_resets(threading.excepthook)


def _quiet_hand_over_resets(previous: Callable) -> Callable:
    """A ``threading.excepthook`` that drops connection errors of multiprocessing's resource
    sharer (the main process went away while a batch was handed over) and passes on the rest."""

    def hook(args: threading.ExceptHookArgs) -> None:
        sharer = os.path.join("multiprocessing", "resource_sharer.py")
        frames = traceback.extract_tb(args.exc_traceback)
        if issubclass(args.exc_type, (ConnectionError, EOFError)) and any(f.filename.endswith(sharer) for f in frames):
            return
        previous(args)

    return hook


class _Stop:
    """A scheduler's SIGTERM (or ``kill``) stops training like Ctrl-C: save, then exit. The
    KeyboardInterrupt is held back while a DataLoader forks its workers (see :meth:`held`): raised
    there, it would land in an at-fork hook, which prints it and swallows it."""

    def __init__(self) -> None:
        self.requested, self.holding = False, 0

    def install(self) -> dict[int, object]:
        """Handle SIGTERM and SIGINT; returns the previous handlers (none off the main thread,
        where handlers cannot be set)."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def uninstall(self, previous: dict[int, object]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        if not self.holding:
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    @contextmanager
    def held(self) -> Iterator[None]:
        """A signal inside the block only marks the stop; it is raised on leaving the block."""
        self.holding += 1
        try:
            yield
        finally:
            self.holding -= 1
        if not self.holding:
            self.check()


def train(
    cfg: TrainingConfig,
    out: str | Path,
    device: str = "auto",
    amp: bool = False,
    resume: bool = False,
    quiet: bool = False,
    desc: str = "train",
) -> Path:
    """Train a model as ``cfg`` says into RUN folder ``out``; returns the final model file.
    ``desc`` names the run in its progress (ablate trains several)."""
    trainer = Trainer(cfg, out, device=device, amp=amp, resume=resume, quiet=quiet, desc=desc)
    try:
        trainer.fit()
    finally:
        trainer.close()
    return trainer.out / "model.safetensors"
