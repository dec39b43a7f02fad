"""Running a synthesis job over many samples: in process or in worker processes, with progress.

A job is any picklable object with ``kind``, ``settings() -> dict`` and
``make(index) -> (blur, frames, meta, extras)``; the runner owns writing, ordering and resume.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from ..errors import Blur2VideoError, SkipSample
from ..runtime import keep_freed_memory
from .writer import DatasetWriter, write_sample_dir


class SynthesisJob(Protocol):
    kind: str

    def settings(self) -> dict: ...

    def make(self, index: int) -> tuple: ...


_JOB: SynthesisJob | None = None
_ROOT: Path | None = None


def _init_worker(job: SynthesisJob, root: Path, single_thread: bool = True) -> None:
    """Each worker holds its own job (and its own cache of loaded sources); one thread each,
    since the processes already fill the cores."""
    global _JOB, _ROOT
    if single_thread:
        torch.set_num_threads(1)
    keep_freed_memory()  # a spawned process starts with glibc's defaults again
    _JOB, _ROOT = job, root


def _make_and_write(index: int) -> dict | str | tuple[int, str]:
    """A record, a fatal error line, or (index, reason) for a sample that must be skipped."""
    assert _JOB is not None and _ROOT is not None
    try:
        blur, frames, meta, extras = _JOB.make(index)
    except SkipSample as exc:
        return index, str(exc)
    except Blur2VideoError as exc:
        return str(exc)
    return write_sample_dir(_ROOT, index, blur, frames, meta, extras)


def run_synthesis(
    job: SynthesisJob, out: str | os.PathLike, samples: int, workers: int = 1, shard: tuple[int, int] | None = None
) -> tuple[Path, int]:
    """Write the samples of ``job`` that ``out`` lacks; return (dataset folder, samples written)."""
    if samples < 1:
        raise Blur2VideoError(f"--samples {samples}: need at least one sample")
    if workers < 1:
        raise Blur2VideoError(f"--workers {workers}: need at least one worker")
    writer = DatasetWriter(out, job.kind, job.settings(), shard)
    todo = writer.pending(samples)
    bar = tqdm(total=len(todo), desc=f"synth {job.kind}", unit="sample", dynamic_ncols=True, leave=False, disable=None)
    written = 0
    try:
        if workers == 1:
            _init_worker(job, writer.root, single_thread=False)
            results = map(_make_and_write, todo)
            pool = None
        else:
            pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(job, writer.root))
            results = pool.imap(_make_and_write, todo)
        for result in results:
            if isinstance(result, str):
                raise Blur2VideoError(result)
            if isinstance(result, tuple):
                tqdm.write(f"blur2video: skipped sample {result[0]}: {result[1]}", file=sys.stderr)
                writer.skip(*result)
                bar.update(1)
                continue
            writer.append(result)
            written += 1
            bar.update(1)
    finally:
        bar.close()
        if workers > 1 and pool is not None:
            pool.terminate()
    writer.finish(samples)
    return writer.root, written

