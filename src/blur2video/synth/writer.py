"""The DATASET/ folder (docs/data.md, "DATASET format"): atomic, resumable, shardable.

Layout: ``dataset.json`` (settings), ``index.jsonl`` (one line per complete sample) and
``samples/NNNNNN/{blur.png, frame_0.png, ...}``. A sample folder is written under a temporary
name and renamed whole; its index line is appended only after that, so the index never names a
partial sample. Each sample is generated from ``(seed, index)`` alone, so a rerun, a resume or a
shard produces exactly the same bytes for it. With ``--shard i/n`` every machine appends to its
own ``index.shard-i-of-n.jsonl``; the shard that finishes last merges them into ``index.jsonl``.

Shards may start together on a new folder: ``dataset.json`` is created first and exclusively (a
hard link of a finished temporary file), so every process either creates it or reads the
complete settings of the one that did. Every writer holds a shared lock on ``.lock`` while it
runs; a folder that holds nothing but the settings of a run that wrote no sample (it failed on
its first sample, or was killed) is taken over by a run with other settings only when no other
writer holds that lock.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # no advisory locks (Windows): concurrent runs stay safe, takeovers are refused
    fcntl = None  # type: ignore[assignment]

import numpy as np

from ..errors import Blur2VideoError
from ..fileio import atomic_folder, atomic_write_bytes, new_file_mode, to_uint8, write_png

FORMAT_VERSION = 1
INDEX = "index.jsonl"
SETTINGS = "dataset.json"
LOCK = ".lock"
LOCK_WAIT_S = 30.0  # a takeover holds the lock exclusively for milliseconds


def sample_id(index: int) -> str:
    return f"{index:06d}"


def _image_hwc(t) -> np.ndarray:
    """An image (C, H, W) as (H, W, C); a torch tensor is read without importing torch here."""
    arr = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
    return np.transpose(arr, (1, 2, 0)) if arr.ndim == 3 and arr.shape[0] in (1, 3) else arr


def write_sample_dir(root: Path, index: int, blur, frames, meta: dict, extras: dict | None = None) -> dict:
    """Write one sample folder atomically (temporary folder, then rename); return its index record.

    ``blur`` is (C, H, W), ``frames`` (N, C, H, W), ``extras`` maps file names to arrays saved
    as ``.npy`` beside the images (e.g. flows).
    """
    sid = sample_id(index)
    final = root / "samples" / sid
    names = []
    # a ``final`` already there was left by an interrupted run but never indexed: it is replaced
    with atomic_folder(root / "samples" / f".tmp-{sid}-{os.getpid()}", final) as tmp:
        write_png(tmp / "blur.png", to_uint8(_image_hwc(blur)))
        for j, frame in enumerate(frames):
            write_png(tmp / f"frame_{j}.png", to_uint8(_image_hwc(frame)))
            names.append(f"samples/{sid}/frame_{j}.png")
        for name, arr in (extras or {}).items():
            np.save(tmp / name, np.asarray(arr))
    return {"id": sid, "blur": f"samples/{sid}/blur.png", "frames": names, "meta": meta}


def _read_index(path: Path, repair: bool = True) -> list[dict]:
    """Records of a (possibly interrupted) index; a torn last line is dropped and, with
    ``repair`` (the caller's own file), cut from the file. Another shard's file is only read:
    its last line may be mid-write."""
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
    if repair and good_bytes != path.stat().st_size:
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


def _open_lock(root: Path) -> int | None:
    """A shared lock on ``root/.lock`` held for the writer's life (released when the descriptor
    closes, even on kill -9); None where the file system offers no locks."""
    if fcntl is None:
        return None
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, new_file_mode())
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise Blur2VideoError(
                    f"{root / LOCK}: held by another synth process for {LOCK_WAIT_S:.0f} s; wait for it or choose "
                    f"another --out"
                ) from None
            time.sleep(0.05)
        except OSError:  # e.g. ENOLCK on a network file system without lock support
            os.close(fd)
            return None


def _visible(folder: Path) -> list[Path]:
    """A folder's entries less hidden ones (temporary files and folders, the lock)."""
    return [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []


class DatasetWriter:
    """Owns one DATASET/ folder for one synthesis run (or one shard of it). Call ``close()``
    when done (the runner does) to release the folder's lock."""

    def __init__(self, root: str | os.PathLike, kind: str, settings: dict, shard: tuple[int, int] | None = None):
        self.root = Path(root)
        self.shard = shard
        self.header = {"version": FORMAT_VERSION, "kind": kind, **settings}
        self._lock: int | None = None
        self._claim_folder()
        name = INDEX if shard is None else f"index.shard-{shard[0]}-of-{shard[1]}.jsonl"
        self.index_path = self.root / name
        self.records = {r["id"]: r for r in _read_index(self.index_path)}
        self.skipped_path = self.root / (
            "skipped.jsonl" if shard is None else f"skipped.shard-{shard[0]}-of-{shard[1]}.jsonl"
        )
        self.skipped = {r["id"]: r for r in _read_index(self.skipped_path)}

    def close(self) -> None:
        """Release the folder's lock (a later run with other settings may then take over a
        folder this run left without samples)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _header_bytes(self) -> bytes:
        return (json.dumps(self.header, indent=2, sort_keys=True) + "\n").encode()

    def _claim_folder(self) -> None:
        """Create the folder and its dataset.json, or check that the dataset already in it was
        made with these settings; safe when several shards start on the same new folder."""
        if self.root.exists() and not self.root.is_dir():
            raise Blur2VideoError(f"{self.root}: exists and is not a folder; choose another --out")
        if not (self.root / SETTINGS).exists():
            self._refuse_foreign_content()  # before the lock file is put into someone else's folder
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = _open_lock(self.root)
        try:
            for _ in range(10):
                old = self._read_settings()
                if old == self.header:
                    break
                if old is None:
                    self._refuse_foreign_content()
                    self._create_settings()
                else:
                    self._take_over(old)
            else:
                raise Blur2VideoError(
                    f"{self.root / SETTINGS}: keeps changing (synth runs with other settings are starting on it); "
                    f"choose another --out"
                )
            (self.root / "samples").mkdir(exist_ok=True)
        except BaseException:
            self.close()
            raise

    def _read_settings(self) -> dict | None:
        """The settings in dataset.json, None while it does not exist."""
        path = self.root / SETTINGS
        for _ in range(5):
            try:
                settings = json.loads(path.read_bytes())
            except FileNotFoundError:
                return None
            except (json.JSONDecodeError, UnicodeDecodeError):
                time.sleep(0.05)  # only a file system without hard links shows a half-written file, briefly
                continue
            if isinstance(settings, dict):
                return settings
            break
        raise Blur2VideoError(f"{path}: unreadable; remove the folder or choose another --out")

    def _refuse_foreign_content(self) -> None:
        """A folder without dataset.json may hold only this tool's in-progress layout: nothing,
        or a samples/ folder with nothing finished in it (dataset.json is written before any
        sample, so a dataset.json that appeared meanwhile means another shard claimed it)."""
        foreign = [p.name for p in _visible(self.root) if not (p.name == "samples" and p.is_dir() and not _visible(p))]
        if foreign and not (self.root / SETTINGS).exists():
            shown = ", ".join(sorted(foreign)[:3]) + (" ..." if len(foreign) > 3 else "")
            raise Blur2VideoError(
                f"{self.root}: not empty and not a blur2video dataset (holds {shown}); choose an empty or new --out"
            )

    def _create_settings(self) -> None:
        """Write dataset.json whole under a temporary name and link it into place: the link fails
        if another process created it first, and nobody ever reads half a file."""
        path = self.root / SETTINGS
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{SETTINGS}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._header_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, new_file_mode())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another shard was first: the caller compares its settings
            except OSError:  # no hard links here: an exclusive create is the next best thing
                try:
                    with open(path, "xb") as fh:
                        fh.write(self._header_bytes())
                except FileExistsError:
                    pass
        finally:
            os.unlink(tmp)

    def _holds_no_sample(self) -> bool:
        """Whether the folder is an empty skeleton: settings, an empty samples/ and indexes
        without a complete line (what a run that failed or was killed before its first sample
        leaves)."""
        for p in _visible(self.root):
            if p.name == "samples" and p.is_dir():
                if _visible(p):
                    return False
            elif p.name.endswith(".jsonl") and p.name.startswith(("index", "skipped")):
                if _read_index(p, repair=False):
                    return False
            elif p.name != SETTINGS:
                return False
        return True

    def _take_over(self, old: dict) -> None:
        """Replace the settings of an empty skeleton, or refuse: a folder with samples made with
        other settings is resumed only by the same flags, and a skeleton another live process
        is about to fill is left to it."""
        diff = ", ".join(sorted(k for k in set(old) | set(self.header) if old.get(k) != self.header.get(k)))
        refuse = (
            f"{self.root}: holds a dataset made with other settings ({diff}); rerun with the same flags to "
            f"resume, or choose another --out"
        )
        if not self._holds_no_sample():
            raise Blur2VideoError(refuse)
        if self._lock is None:
            raise Blur2VideoError(
                f"{self.root}: holds no samples, only the settings of an unfinished run with other settings ({diff}); "
                "remove the folder or choose another --out"
            )
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Blur2VideoError(
                f"{self.root}: another synth process is writing it with other settings ({diff}); "
                "wait for it and rerun with the same flags, or choose another --out"
            ) from None
        try:
            if not self._holds_no_sample():  # a sample may have landed before the lock was ours
                raise Blur2VideoError(refuse)
            for p in _visible(self.root):
                if p.name.endswith(".jsonl"):
                    p.unlink()
            for stale in (self.root / "samples").glob(".tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
            atomic_write_bytes(self.root / SETTINGS, self._header_bytes())
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_SH)

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
            merged.update(
                (r["id"], r) for r in _read_index(self.root / f"index.shard-{i}-of-{self.shard[1]}.jsonl", repair=False)
            )
            skipped += len(_read_index(self.root / f"skipped.shard-{i}-of-{self.shard[1]}.jsonl", repair=False))
        if len(merged) + skipped < total:
            return None
        atomic_write_bytes(self.root / INDEX, _index_bytes(merged))
        return self.root / INDEX
