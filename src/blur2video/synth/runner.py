"""Running a synthesis job over many samples: in process or in worker processes, with progress.

A job is any picklable object with ``kind``, ``settings() -> dict`` and
``make(index) -> (blur, frames, meta, extras)``; the runner owns writing, ordering and resume.
In process, a background thread writes each sample's PNGs while the next one is made.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from PIL import Image

from .. import progress
from ..background import BackgroundWriter
from ..errors import Blur2VideoError, SkipSample
from ..fileio import read_image
from ..runtime import keep_freed_memory
from .writer import DatasetWriter, write_sample_dir

SCENE_TEXTURE_MIN = 64  # SceneJob refuses texture photos smaller than this (synth/scenes.py)


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
        if job.kind == "rotation":
            from ..geometry.sampling import set_render_threads  # OpenCV: only the rotation renderer uses it

            set_render_threads(1)
        if "torch" in sys.modules:  # the video and scene jobs run on torch; rotation never loads it
            sys.modules["torch"].set_num_threads(1)
    keep_freed_memory()  # a spawned process starts with glibc's defaults again
    _JOB, _ROOT = job, root


def _make(index: int) -> tuple | str:
    """(blur, frames, meta, extras), a fatal error line, or (index, reason) for a sample that must be
    skipped."""
    assert _JOB is not None
    try:
        return _JOB.make(index)
    except SkipSample as exc:
        return index, str(exc)
    except Blur2VideoError as exc:
        return str(exc)


def _is_sample(made: tuple | str) -> bool:
    """Whether ``_make`` made a sample (not an error line or a skip)."""
    return not isinstance(made, str) and len(made) == 4


def _make_and_write(index: int) -> dict | str | tuple[int, str]:
    """A record, a fatal error line, or (index, reason) for a sample that must be skipped."""
    assert _ROOT is not None
    made = _make(index)
    if not _is_sample(made):
        return made
    return write_sample_dir(_ROOT, index, *made)


def _made_here(job: SynthesisJob, root: Path, todo: list[int]) -> Iterator[dict | str | tuple[int, str]]:
    """What ``_make_and_write`` gives for each index, in order, made in this process while a
    background thread writes the sample before (one at a time, so memory holds two samples)."""
    _init_worker(job, root, single_thread=False)
    with BackgroundWriter(pending=1, name="blur2video-synth-writer") as background:
        for index in todo:
            made = _make(index)
            if not _is_sample(made):
                yield from (f.result() for f in background.finished(wait=True))
                yield made
                continue
            background.submit(write_sample_dir, root, index, *made)
            del made  # the writer holds the sample now; this frame must not keep it alive
            yield from (f.result() for f in background.finished())
        yield from (f.result() for f in background.finished(wait=True))


def verify_image_file(path: Path) -> None:
    """Read an image source through to its end, cheaply: the header probe that found it passes a
    truncated file, which would then fail after samples were written. PNG: every chunk's
    checksum up to IEND (no inflating); JPEG: decoded at 1/8 scale (every scan is still read);
    TIFF and the rest: decoded whole."""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            read_image(path)
            return
        with Image.open(path) as img:
            if img.format == "PNG":
                img.verify()
                return
            if img.format == "JPEG":
                img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as exc:
        raise Blur2VideoError(
            f"{path}: truncated or unreadable image ({exc}); re-export it or remove it from the source"
        ) from None


def check_sources(job: SynthesisJob) -> None:
    """Every source file read to its end, and big enough for the job, before the DATASET folder
    is touched: a bad source found at its first sample would leave a folder behind."""
    sources = getattr(job, "sources", None) or []
    settings = job.settings()
    photo = job.kind == "rotation" and settings.get("source_kind") == "photo"
    for ref in sources:
        if ref.path is not None:
            verify_image_file(ref.path)
        elif not ref.name.startswith("skimage:"):
            continue  # procedural (dead leaves): made at a fixed size, nothing to read
        if job.kind not in ("rotation", "scenes"):
            continue
        width, height = ref.size()  # read once: a bundled photo's size decodes it
        if job.kind == "rotation":
            job.check_source_size(ref.name, width, height)  # type: ignore[attr-defined]
        if photo and min(width, height) <= settings["size"]:
            raise Blur2VideoError(
                f"{ref.name}: {width}x{height} photo is too small for --size {settings['size']} "
                "(the view must fit inside it as the camera turns); lower --size or remove it from --source"
            )
        if job.kind == "scenes" and min(width, height) < SCENE_TEXTURE_MIN:
            raise Blur2VideoError(
                f"{ref.name}: {width}x{height} is too small for a texture ({SCENE_TEXTURE_MIN} px a side at least); "
                "remove it from --textures"
            )


def run_synthesis(
    job: SynthesisJob, out: str | os.PathLike, samples: int, workers: int = 1, shard: tuple[int, int] | None = None
) -> tuple[Path, int]:
    """Write the samples of ``job`` that ``out`` lacks; return (dataset folder, samples written)."""
    if samples < 1:
        raise Blur2VideoError(f"--samples {samples}: need at least one sample")
    if workers < 1:
        raise Blur2VideoError(f"--workers {workers}: need at least one worker")
    check_sources(job)
    writer = DatasetWriter(out, job.kind, job.settings(), shard)
    try:
        written = _write_pending(job, writer, samples, workers)
        writer.finish(samples)
    finally:
        writer.close()
    return writer.root, written


def _write_pending(job: SynthesisJob, writer: DatasetWriter, samples: int, workers: int) -> int:
    """Make and write every sample the folder lacks; return how many were written."""
    todo = writer.pending(samples)
    written = 0
    pool = None
    try:
        if workers == 1:
            results = _made_here(job, writer.root, todo)
        else:
            pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(job, writer.root))
            results = pool.imap(_make_and_write, todo)
        with progress.track(len(todo), f"synth {job.kind}", "sample", leave=False) as bar:
            for result in results:
                if isinstance(result, str):
                    raise Blur2VideoError(result)
                if isinstance(result, tuple):
                    progress.problem(f"blur2video: skipped sample {result[0]}: {result[1]}")
                    writer.skip(*result)
                else:
                    writer.append(result)
                    written += 1
                bar.update(1)
    finally:
        if workers == 1:
            results.close()  # a write in progress lands before the error or interrupt goes on
        if pool is not None:
            pool.terminate()
    return written
