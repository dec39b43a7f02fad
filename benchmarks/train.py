"""Training speed: samples/s and achieved GFLOP/s (forward + backward) against this machine's
fp32 matmul rate (MKL and oneDNN, _peak.py) measured in the same run, for the small preset at
128x128 with N = 3 and N = 7; and
the speed-up of 2-process DDP (gloo, one thread each) over one process (two threads).

    python benchmarks/train.py [--steps 6 --batch 4 --size 128]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import time

import torch
from _peak import gemm_rates, peak_columns, percent_cells, rates_line


def _step_fn(frames: int, batch: int, size: int, preset: str = "small"):
    from blur2video.losses import LossConfig, compute_loss
    from blur2video.model import Blur2Video, ModelConfig

    torch.manual_seed(0)
    model = Blur2Video(ModelConfig.preset(preset, frames=frames))
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    blur, target = torch.rand(batch, 3, size, size), torch.rand(batch, frames, 3, size, size)

    def step(m=model) -> None:
        loss = compute_loss(m(blur), target, LossConfig())["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    return model, step


def single(preset: str, frames: int, batch: int, size: int, steps: int) -> tuple[float, float]:
    """(seconds per step, FLOPs per step) in this process."""
    _, step = _step_fn(frames, batch, size, preset)
    from blur2video.model.flops import count_flops

    flops = count_flops(step)
    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps, flops


def _ddp_worker(rank: int, port: int, preset: str, frames: int, batch: int, size: int, steps: int, queue) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    from blur2video.runtime import keep_freed_memory

    keep_freed_memory()
    model, _ = _step_fn(frames, batch // 2, size, preset)
    from blur2video.losses import LossConfig, compute_loss

    ddp = DistributedDataParallel(model)
    opt = torch.optim.Adam(ddp.parameters(), 1e-4)
    blur, target = torch.rand(batch // 2, 3, size, size), torch.rand(batch // 2, frames, 3, size, size)

    def step() -> None:
        loss = compute_loss(ddp(blur), target, LossConfig())["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    dist.barrier()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    dist.barrier()
    if rank == 0:
        queue.put((time.perf_counter() - t) / steps)
    dist.destroy_process_group()


def ddp(preset: str, frames: int, batch: int, size: int, steps: int) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_ddp_worker, args=(r, port, preset, frames, batch, size, steps, queue)) for r in range(2)
    ]
    for p in procs:
        p.start()
    seconds = queue.get()
    for p in procs:
        p.join()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(2)
    from blur2video.runtime import keep_freed_memory

    keep_freed_memory()  # as the Trainer does
    rates = gemm_rates()
    print(f"torch {torch.__version__}, 2 threads; {rates_line(rates)}; batch {args.batch}, {args.size}x{args.size}")
    print()
    print(
        "| preset | N | s / step | samples / s | GFLOP / step (fwd+bwd) | GFLOP/s | "
        + peak_columns(rates)
        + " | 2-process DDP samples / s | DDP speed-up |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for preset, frames in (("small", 3), ("small", 7), ("fast", 7)):
        seconds, flops = single(preset, frames, args.batch, args.size, args.steps)
        ddp_seconds = ddp(preset, frames, args.batch, args.size, args.steps)
        rate = flops / seconds / 1e9
        print(
            f"| {preset} | {frames} | {seconds:.2f} | {args.batch / seconds:.2f} | {flops / 1e9:.1f} | {rate:.0f} "
            f"| {percent_cells(rate, rates)} "
            f"| {args.batch / ddp_seconds:.2f} | {seconds / ddp_seconds:.2f}x |"
        )


if __name__ == "__main__":
    main()
