"""The trainer: data, optimiser, schedule, checkpoints, resume, DDP and logging (paper section 5).

One process by default; under ``torchrun`` (WORLD_SIZE > 1) it is data-parallel (gloo on CPU,
nccl on CUDA), ``train.batch_size`` is the global batch, and only rank 0 writes. Batches come from
a DistributedSampler seeded by (seed, epoch), so K processes see exactly the batches one process
would, and a resumed run skips to the batch it stopped at: an interrupted-and-resumed run ends
with the weights of an uninterrupted one.

RUN/ holds ``config.toml`` (resolved), ``checkpoints/step-NNNNNNNN/`` (model.safetensors,
state.safetensors, state.json), ``last.json`` (the newest complete checkpoint), ``model.safetensors``
(latest weights), ``best.safetensors`` (best validation PSNR), ``metrics.jsonl`` (with the gains
over the blur on ``data.val_real``, real blurred photos, where given) and ``tb/``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import tomli_w
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from .checkpoints import ARCHS, load_matching_weights, load_training_state, load_weights, read_tensors, save_model, save_training_state
from .data.build import build_datasets, real_validation_set
from .data.io import atomic_write_bytes
from .errors import Blur2VideoError
from .losses import compute_loss, gate_loss
from .metrics import order_invariant_psnr
from .runtime import pick_device
from .train_config import loss_config, model_config


class Trainer:
    def __init__(self, cfg: dict, out: str | Path, device: str = "auto", amp: bool = False, resume: bool = False, quiet: bool = False) -> None:
        self.cfg, self.out, self.quiet = cfg, Path(out), quiet
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = pick_device(device)
        if self.world > 1 and not dist.is_initialized():
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        t = cfg["train"]
        if t["batch_size"] % self.world:
            raise Blur2VideoError(f"train.batch_size {t['batch_size']} is the global batch: it must divide by the {self.world} processes")
        self.local_batch = t["batch_size"] // self.world
        self.amp = amp and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.amp and torch.cuda.is_bf16_supported() else torch.float16

        self.model_cfg, self.loss_cfg = model_config(cfg), loss_config(cfg)
        torch.manual_seed(t["seed"])
        self.model = ARCHS[cfg["model"]["arch"]](self.model_cfg).to(self.device)
        if t["init"] and not (resume and (self.out / "last.json").exists()):  # a resumed run has its own weights
            copied, total = load_matching_weights(self.model, t["init"])
            if self.rank == 0 and not quiet:
                tqdm.write(f"started from {t['init']}: {copied} of {total} tensors")
        self.train_set, self.val_set = build_datasets(cfg, self.model_cfg.frames)
        self.real_set = real_validation_set(cfg, self.model_cfg.frames)
        self.sampler = DistributedSampler(self.train_set, num_replicas=self.world, rank=self.rank, shuffle=True, seed=t["seed"], drop_last=True)
        self.steps_per_epoch = len(self.sampler) // self.local_batch
        if self.steps_per_epoch == 0:
            raise Blur2VideoError(f"{len(self.train_set)} training samples make no batch of {t['batch_size']}; lower train.batch_size or add data")
        self.total_steps = t["steps"] if t["steps"] > 0 else t["epochs"] * self.steps_per_epoch
        self.part = t["part"]
        trained = self._trained_part(self.part)
        self.optimizer = torch.optim.Adam(trained.parameters(), lr=t["lr"], betas=(0.9, 0.999))
        milestones = sorted({max(1, int(f * self.total_steps)) for f in t["lr_milestones"]})
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones, gamma=0.5)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.step, self.wall, self.best = 0, 0.0, -math.inf
        self._prepare_run_dir(resume)
        self.ddp = DistributedDataParallel(trained) if self.world > 1 else trained
        self.writer = None
        if self.rank == 0:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tb"), purge_step=self.step + 1 if resume else None)

    def _trained_part(self, part: str) -> torch.nn.Module:
        """The module the optimiser updates: the whole model, or with ``train.part`` one head of it
        trained alone on its own loss (the rest frozen; of it only the network's middle path runs,
        without gradients, for the head's candidate)."""
        if not part:
            return self.model
        if part not in ("kernel_bank", "gate"):
            raise Blur2VideoError(f"train.part = {part!r}: choose \"kernel_bank\", \"gate\" or \"\" (the whole model)")
        head = getattr(self.model, part, None)
        if head is None:
            raise Blur2VideoError(f"train.part = \"{part}\" trains that head alone: set model.{part} = true")
        self.model.requires_grad_(False)
        head.requires_grad_(True)
        return head

    # ---- run folder, checkpoints ------------------------------------------------------------
    def _prepare_run_dir(self, resume: bool) -> None:
        last = self.out / "last.json"
        if last.exists() and not resume:
            raise Blur2VideoError(f"{self.out}: already holds a run; pass --resume to continue it or choose another --out")
        if resume and last.exists():
            saved = json.loads(last.read_text())
            folder = self.out / saved["dir"]
            state = read_tensors(folder / "model.safetensors", "the weights", f"delete {folder} and resume from an earlier checkpoint")
            load_weights(self.model, {k: v.to(self.device) for k, v in state.items()}, str(folder / "model.safetensors"))
            info = load_training_state(folder, self.optimizer, self.scheduler)
            self.step, self.wall, self.best = info["step"], info["wall_seconds"], info.get("best_psnr", -math.inf)
        if self.rank == 0:
            (self.out / "checkpoints").mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.out / "config.toml", tomli_w.dumps(self.cfg).encode())

    def save_checkpoint(self) -> Path:
        """Write checkpoints/step-N/ whole (temporary folder, then rename), then point last.json at it."""
        name = f"step-{self.step:08d}"
        final = self.out / "checkpoints" / name
        tmp = self.out / "checkpoints" / f".tmp-{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        extra = {"step": self.step, "train_config": self.cfg}
        save_model(tmp / "model.safetensors", self.model, extra)
        save_training_state(tmp, self.optimizer, self.scheduler, {"step": self.step, "wall_seconds": self.wall, "best_psnr": self.best})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        atomic_write_bytes(self.out / "last.json", json.dumps({"step": self.step, "dir": f"checkpoints/{name}"}).encode())
        shutil.copyfile(final / "model.safetensors", self.out / ".model.safetensors.tmp")
        os.replace(self.out / ".model.safetensors.tmp", self.out / "model.safetensors")
        kept = sorted(p for p in (self.out / "checkpoints").iterdir() if p.name.startswith("step-"))
        for old in kept[: -self.cfg["train"]["keep_checkpoints"]]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    # ---- data -------------------------------------------------------------------------------
    def _loader(self, epoch: int, skip_batches: int) -> DataLoader:
        self.sampler.set_epoch(epoch)
        self.train_set.set_epoch(epoch)
        indices = list(iter(self.sampler))[: self.steps_per_epoch * self.local_batch][skip_batches * self.local_batch :]
        workers = self.cfg["train"]["workers"]
        return DataLoader(self.train_set, batch_size=self.local_batch, sampler=indices, num_workers=workers, drop_last=True,
                          pin_memory=self.device.type == "cuda", worker_init_fn=_ignore_sigterm if workers else None)

    # ---- steps ------------------------------------------------------------------------------
    def _train_step(self, blur: torch.Tensor, frames: torch.Tensor, order_free: torch.Tensor | None = None) -> dict[str, float]:
        blur, frames = blur.to(self.device, non_blocking=True), frames.to(self.device, non_blocking=True)
        if self.part == "kernel_bank":  # the head's own loss on the middle frame, the frozen network's as its candidate
            with torch.no_grad():
                candidate = self.model.middle_path(blur)[2][-1][..., : blur.shape[-2], : blur.shape[-1]]
            terms = self.ddp(blur, candidate, frames[:, frames.shape[1] // 2])
        elif self.part == "gate":  # the gate's own loss on the frozen network's frames
            with torch.no_grad():
                raw = self.model(blur, gate=False).frames.float()
            terms = gate_loss(self.ddp(blur, raw)[0], frames, order_free)
        else:
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                out = self.ddp(blur)
            terms = compute_loss(_float_restoration(out), frames, self.loss_cfg, order_free)
        total = terms["total"]
        bad = torch.tensor(0.0 if torch.isfinite(total) else 1.0, device=self.device)
        if self.world > 1:
            dist.all_reduce(bad)
        if bad.item() > 0:
            raise Blur2VideoError(
                f"loss is {total.item()} at step {self.step + 1}: training stopped; the last good checkpoint is in "
                f"{self.out / 'last.json'} (resume with a lower train.lr, or check the data)"
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
        val = self._scores(self.val_set, self.local_batch, self.cfg["train"]["val_batches"])
        if self.real_set is not None:  # whole real photos, one at a time
            real = self._scores(self.real_set, 1, 0)
            val.update(real_psnr_frames=real["psnr_frames"], real_blur_psnr_frames=real["blur_psnr_frames"])
        return val

    def _scores(self, dataset, batch_size: int, max_batches: int) -> dict:
        self.model.eval()
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=self.cfg["train"]["workers"])
        limit = max_batches or len(loader)
        scores, blur_scores, shown = [], [], None
        for i, (blur, frames, *_) in enumerate(loader):
            if i >= limit:
                break
            blur, frames = blur.to(self.device), frames.to(self.device)
            pred = self.model(blur).frames.float()
            per_frame, _ = order_invariant_psnr(pred, frames)
            scores.append(per_frame.clamp(max=100).cpu())
            blur_scores.append(order_invariant_psnr(blur.unsqueeze(1).expand_as(frames), frames)[0].clamp(max=100).cpu())
            if shown is None:
                shown = (blur[:2].cpu(), pred[:2].clamp(0, 1).cpu(), frames[:2].cpu())
        self.model.train()
        per_frame = torch.cat(scores).mean(0).tolist()
        return {"psnr": float(np.mean(per_frame)), "psnr_frames": per_frame, "blur_psnr_frames": torch.cat(blur_scores).mean(0).tolist(), "shown": shown}

    def _log_validation(self, epoch: int, val: dict) -> None:
        n = len(val["psnr_frames"])
        row = {"step": self.step, "epoch": epoch, "wall_seconds": round(self.wall, 1), "val_psnr": val["psnr"],
               "val_psnr_first": val["psnr_frames"][0], "val_psnr_middle": val["psnr_frames"][n // 2], "val_psnr_last": val["psnr_frames"][-1]}
        if "real_psnr_frames" in val:  # gains over the blur on real photos: the curve a checkpoint is chosen on too
            gain = [p - b for p, b in zip(val["real_psnr_frames"], val["real_blur_psnr_frames"])]
            row.update(real_gain_first=gain[0], real_gain_middle=gain[n // 2], real_gain_last=gain[-1], real_gain_mean=float(np.mean(gain)))
            for key in ("first", "middle", "last", "mean"):
                self.writer.add_scalar(f"val_real/gain_{key}_db", row[f"real_gain_{key}"], self.step)
        with open(self.out / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        self.writer.add_scalar("val/psnr", val["psnr"], self.step)
        for j, v in enumerate(val["psnr_frames"]):
            self.writer.add_scalar(f"val/psnr_frame_{j}", v, self.step)
        if val["shown"] is not None and epoch % max(1, self.cfg["train"]["image_every"]) == 0:
            blur, pred, gt = val["shown"]
            for i in range(blur.shape[0]):
                top = torch.cat([blur[i], *pred[i]], dim=-1)
                bottom = torch.cat([blur[i], *gt[i]], dim=-1)
                self.writer.add_image(f"val/sample_{i}", torch.cat([top, bottom], dim=-2), self.step)
        if val["psnr"] > self.best:
            self.best = val["psnr"]
            save_model(self.out / "best.safetensors", self.model, {"step": self.step, "val_psnr": self.best, "train_config": self.cfg})

    # ---- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train to ``total_steps``; returns the last validation figures."""
        t = self.cfg["train"]
        self.model.train()
        bar = tqdm(total=self.total_steps, initial=self.step, disable=None if self.rank == 0 and not self.quiet else True, desc="train", dynamic_ncols=True)
        val: dict = {}
        previous = _stop_on_sigterm()
        if self.step == 0 and self.rank == 0:  # where training starts: the curve's first point
            self._log_validation(0, self.validate())
        if self.step == 0 and self.world > 1:
            dist.barrier()
        try:
            while self.step < self.total_steps:
                epoch, skip = divmod(self.step, self.steps_per_epoch)
                started, seen = time.perf_counter(), 0
                for blur, frames, *order_free in self._loader(epoch, skip):
                    terms = self._train_step(blur, frames, *order_free)
                    self.step += 1
                    seen += blur.shape[0] * self.world
                    elapsed = time.perf_counter() - started
                    bar.update(1)
                    bar.set_postfix(loss=f"{terms['total']:.4f}", samples_s=f"{seen / max(elapsed, 1e-9):.1f}")
                    if self.writer is not None and self.step % t["log_every"] == 0:
                        for k, v in terms.items():
                            self.writer.add_scalar(f"train/{k}", v, self.step)
                        self.writer.add_scalar("train/lr", self.scheduler.get_last_lr()[0], self.step)
                        self.writer.add_scalar("train/samples_per_second", seen / max(elapsed, 1e-9), self.step)
                    epoch_done = self.step % self.steps_per_epoch == 0
                    if self.step % t["checkpoint_every"] == 0 or epoch_done or self.step == self.total_steps:
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
        finally:
            bar.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if self.writer is not None:
                self.writer.flush()
        return {k: v for k, v in val.items() if k != "shown"}

    def _end_of_epoch(self, epoch: int) -> dict:
        val: dict = {}
        if self.rank == 0:
            val = self.validate()
            self._log_validation(epoch, val)
            if not self.quiet:
                tqdm.write(f"epoch {epoch} step {self.step}: validation PSNR {val['psnr']:.2f} dB (order-invariant, mean over frames)")
        if self.world > 1:
            dist.barrier()
        return val

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _ignore_sigterm(worker_id: int) -> None:
    """DataLoader workers leave SIGTERM to the main process (a scheduler signals the whole group),
    which saves a checkpoint and then shuts them down."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _stop_on_sigterm():
    """A scheduler's SIGTERM (or ``kill``) stops training like Ctrl-C: save, then exit. Returns
    the previous handler, or None off the main thread where handlers cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, stop)


def _float_restoration(out):
    """Mixed precision: losses in float32."""
    out.scales = [s.float() for s in out.scales]
    out.frames = out.scales[-1]
    out.affines = out.affines.float()
    if out.image_affines is not None:
        out.image_affines = out.image_affines.float()
    return out


def train(cfg: dict, out: str | Path, device: str = "auto", amp: bool = False, resume: bool = False, quiet: bool = False) -> Path:
    """Train a model as ``cfg`` says into RUN folder ``out``; returns the final model file."""
    trainer = Trainer(cfg, out, device=device, amp=amp, resume=resume, quiet=quiet)
    try:
        trainer.fit()
    finally:
        trainer.close()
    return trainer.out / "model.safetensors"
