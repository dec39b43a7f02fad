"""The DATASET/ folder (DESIGN.md section 5): atomic, resumable, shardable.

Layout: ``dataset.json`` (settings), ``index.jsonl`` (one line per complete sample) and
``samples/NNNNNN/{blur.png, frame_0.png, ...}``. A sample folder is written under a temporary
name and renamed whole; its index line is appended only after that, so the index never names a
partial sample. Each sample is generated from ``(seed, index)`` alone, so a rerun, a resume or a
shard produces exactly the same bytes for it. With ``--shard i/n`` every machine appends to its
own ``index.shard-i-of-n.jsonl``; the shard that finishes last merges them into ``index.jsonl``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ..data.io import atomic_write_bytes, to_uint8, write_png
from ..errors import Blur2VideoError

FORMAT_VERSION = 1
INDEX = "index.jsonl"
SETTINGS = "dataset.json"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise Blur2VideoError(f"--shard {text}: write it as i/n, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise Blur2VideoError(f"--shard {text}: need 0 <= i < n")
    return i, n


def sample_id(index: int) -> str:
    return f"{index:06d}"


def _image_hwc(t: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return np.transpose(arr, (1, 2, 0)) if arr.ndim == 3 and arr.shape[0] in (1, 3) else arr


def write_sample_dir(root: Path, index: int, blur, frames, meta: dict, extras: dict | None = None) -> dict:
    """Write one sample folder atomically (temporary folder, then rename); return its index record.

    ``blur`` is (C, H, W), ``frames`` (N, C, H, W), ``extras`` maps file names to arrays saved
    as ``.npy`` beside the images (e.g. flows).
    """
    sid = sample_id(index)
    final = root / "samples" / sid
    tmp = root / "samples" / f".tmp-{sid}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write_png(tmp / "blur.png", to_uint8(_image_hwc(blur)))
    names = []
    for j, frame in enumerate(frames):
        write_png(tmp / f"frame_{j}.png", to_uint8(_image_hwc(frame)))
        names.append(f"samples/{sid}/frame_{j}.png")
    for name, arr in (extras or {}).items():
        np.save(tmp / name, np.asarray(arr))
    if final.exists():  # left by an interrupted run but never indexed: replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    return {"id": sid, "blur": f"samples/{sid}/blur.png", "frames": names, "meta": meta}


def _read_index(path: Path) -> list[dict]:
    """Records of a (possibly interrupted) index; a torn last line is dropped and the file repaired."""
    if not path.exists():
        return []
    records, good_bytes = [], 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            good_bytes += len(line)
    if good_bytes != path.stat().st_size:
        with open(path, "r+b") as fh:
            fh.truncate(good_bytes)
    return records


def _index_bytes(records: dict[str, dict]) -> bytes:
    """The index file's content: one line per record, sorted by id, so every run writes the same bytes."""
    return "".join(json.dumps(records[k], sort_keys=True) + "\n" for k in sorted(records)).encode()


def _append_line(path: Path, record: dict) -> None:
    """One write() of one JSON line, flushed to disk: a kill leaves at most a torn last line."""
    with open(path, "ab") as fh:
        fh.write((json.dumps(record, sort_keys=True) + "\n").encode())
        fh.flush()
        os.fsync(fh.fileno())


class DatasetWriter:
    """Owns one DATASET/ folder for one synthesis run (or one shard of it)."""

    def __init__(self, root: str | os.PathLike, kind: str, settings: dict, shard: tuple[int, int] | None = None):
        self.root = Path(root)
        self.shard = shard
        self.header = {"version": FORMAT_VERSION, "kind": kind, **settings}
        self._claim_folder()
        name = INDEX if shard is None else f"index.shard-{shard[0]}-of-{shard[1]}.jsonl"
        self.index_path = self.root / name
        self.records = {r["id"]: r for r in _read_index(self.index_path)}
        self.skipped_path = self.root / ("skipped.jsonl" if shard is None else f"skipped.shard-{shard[0]}-of-{shard[1]}.jsonl")
        self.skipped = {r["id"]: r for r in _read_index(self.skipped_path)}

    def _claim_folder(self) -> None:
        """Create the folder, or check that the dataset already in it was made with these settings."""
        if self.root.exists() and not self.root.is_dir():
            raise Blur2VideoError(f"{self.root}: exists and is not a folder; choose another --out")
        settings_path = self.root / SETTINGS
        if settings_path.exists():
            try:
                old = json.loads(settings_path.read_text())
            except json.JSONDecodeError:
                raise Blur2VideoError(f"{settings_path}: unreadable; remove the folder or choose another --out") from None
            if old != self.header:
                diff = sorted(k for k in set(old) | set(self.header) if old.get(k) != self.header.get(k))
                raise Blur2VideoError(
                    f"{self.root}: holds a dataset made with other settings ({', '.join(diff)}); "
                    "rerun with the same flags to resume, or choose another --out"
                )
        elif self.root.exists() and any(p for p in self.root.iterdir() if not p.name.startswith(".")):
            raise Blur2VideoError(f"{self.root}: not empty and not a blur2video dataset; choose an empty or new --out")
        (self.root / "samples").mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(settings_path, (json.dumps(self.header, indent=2, sort_keys=True) + "\n").encode())

    def pending(self, total: int) -> list[int]:
        """Indices in this shard that have no complete sample yet."""
        mine = range(total) if self.shard is None else range(self.shard[0], total, self.shard[1])
        todo = [i for i in mine if sample_id(i) not in self.records and sample_id(i) not in self.skipped]
        wanted = {sample_id(i) for i in todo}
        for stale in (self.root / "samples").glob(".tmp-*"):  # left by a killed run of this shard
            if stale.name.split("-")[1] in wanted:
                shutil.rmtree(stale, ignore_errors=True)
        return todo

    def append(self, record: dict) -> None:
        """Add a complete sample's line: one write() of one line, flushed to disk."""
        _append_line(self.index_path, record)
        self.records[record["id"]] = record

    def skip(self, index: int, reason: str) -> None:
        """Remember a sample that cannot be made (a corrupt frame), so reruns do not retry it."""
        record = {"id": sample_id(index), "reason": reason}
        _append_line(self.skipped_path, record)
        self.skipped[record["id"]] = record

    def finish(self, total: int) -> Path | None:
        """Sort the index by id (so every run writes the same bytes); merge shards when all are done.

        Returns the path of ``index.jsonl`` once the whole dataset is complete, else None.
        """
        atomic_write_bytes(self.index_path, _index_bytes(self.records))
        if self.shard is None:
            return self.index_path if len(self.records) + len(self.skipped) >= total else None
        merged: dict[str, dict] = {}
        skipped = 0
        for i in range(self.shard[1]):
            merged.update((r["id"], r) for r in _read_index(self.root / f"index.shard-{i}-of-{self.shard[1]}.jsonl"))
            skipped += len(_read_index(self.root / f"skipped.shard-{i}-of-{self.shard[1]}.jsonl"))
        if len(merged) + skipped < total:
            return None
        atomic_write_bytes(self.root / INDEX, _index_bytes(merged))
        return self.root / INDEX
