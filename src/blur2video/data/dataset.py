"""Training data as torch Datasets: DATASET/ folders on disk, or synthesizers streamed on the fly.

Both yield ``(blur (3, h, w), frames (N, 3, h, w))`` float32 tensors. Every random choice (crop,
flips, time reversal, which synthesized sample) comes from a generator seeded by
``(seed, epoch, index)``, so a resumed run and each DDP rank see exactly the data that an
uninterrupted single-process run would.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from torch.utils.data import Dataset

from ..errors import Blur2VideoError
from ..fileio import read_image
from .degrade import Degradation, degrade_blur


@dataclass(frozen=True)
class Augment:
    """Random crop (``crop`` pixels square, None = whole sample) and sequence-consistent flips:
    the same horizontal/vertical flip of the blur and every frame, and time reversal (the blur of
    a reversed sequence is the same blur). ``transpose`` swaps the axes (with flips: all eight
    right-angle turns and mirrors) and ``channel_shuffle`` permutes the colour channels, the same
    way for the blur and every frame: both commute with averaging, so the blur stays the exact
    mean of its frames, and they multiply the variety of a few training photos.

    ``defocus`` is the chance that a sample's scene is out of focus: the blur and every frame go
    through the same Gaussian blur (sigma up to ``defocus_sigma`` pixels), over the whole view or
    blended in by a smooth random depth-of-field map. A fixed linear filter keeps the blur the
    exact mean of its renders; the sharp training photos otherwise teach the network that every
    soft region hides edges, and it rings on real photos' bokeh (experiments/README.md, "the
    bundled model's levers and probes").

    ``degrade`` adds what a camera adds after the exposure, to the blurred input alone: sensor
    noise and JPEG (``data/degrade.py``)."""

    crop: int | None = None
    flips: bool = False
    reverse: bool = False
    transpose: bool = False
    channel_shuffle: bool = False
    defocus: float = 0.0
    defocus_sigma: float = 2.5
    degrade: Degradation = Degradation()

    def __post_init__(self) -> None:
        if not 0.0 <= self.defocus <= 1.0:
            raise Blur2VideoError(f"train.defocus = {self.defocus}: a chance, between 0 and 1")
        if not self.defocus_sigma >= 0.5:
            raise Blur2VideoError(
                f"train.defocus_sigma = {self.defocus_sigma}: the largest defocus in pixels, at least 0.5"
            )


def augment_sample(
    blur: torch.Tensor, frames: torch.Tensor, aug: Augment, rng: np.random.Generator, where: str
) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = blur.shape[-2:]
    if aug.crop is not None:
        if aug.crop > min(h, w):
            raise Blur2VideoError(f"{where}: crop {aug.crop} is larger than the sample ({w}x{h}); lower the crop size")
        y, x = int(rng.integers(h - aug.crop + 1)), int(rng.integers(w - aug.crop + 1))
        blur, frames = blur[:, y : y + aug.crop, x : x + aug.crop], frames[..., y : y + aug.crop, x : x + aug.crop]
    if aug.flips:
        if rng.random() < 0.5:
            blur, frames = blur.flip(-1), frames.flip(-1)
        if rng.random() < 0.5:
            blur, frames = blur.flip(-2), frames.flip(-2)
    if aug.reverse and rng.random() < 0.5:
        frames = frames.flip(0)
    if aug.transpose and blur.shape[-1] == blur.shape[-2] and rng.random() < 0.5:
        blur, frames = blur.transpose(-1, -2), frames.transpose(-1, -2)
    if aug.channel_shuffle:
        order = torch.from_numpy(rng.permutation(3))
        blur, frames = blur[order], frames[:, order]
    if aug.defocus > 0 and rng.random() < aug.defocus:
        blur, frames = defocus(blur, frames, rng, aug.defocus_sigma)
    if aug.degrade.active:
        blur = degrade_blur(blur, aug.degrade, rng)
    return blur.contiguous(), frames.contiguous()


def defocus(
    blur: torch.Tensor, frames: torch.Tensor, rng: np.random.Generator, max_sigma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random defocus for the blur (3, H, W) and every frame (N, 3, H, W): a Gaussian
    of sigma in [0.5, max_sigma], over the whole view or, half the time, weighted by a smooth
    map (a 3x3 grid of random weights, bilinearly upsampled): a depth of field."""
    sigma = float(rng.uniform(0.5, max_sigma))
    stack = torch.cat([blur[None], frames])
    # radius ceil(3 sigma), the kernel the stage 4 and 5 runs trained with
    soft = torch.from_numpy(
        gaussian_filter(stack.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=math.ceil(3 * sigma) / sigma)
    )
    if rng.random() < 0.5:
        grid = torch.from_numpy(rng.random((1, 1, 3, 3))).to(stack.dtype)
        weight = F.interpolate(grid, size=stack.shape[-2:], mode="bilinear", align_corners=True)[0]
        soft = weight * soft + (1 - weight) * stack
    return soft[0], soft[1:]


def _chw(path: Path) -> torch.Tensor:
    return torch.from_numpy(read_image(path)).permute(2, 0, 1).contiguous()


FIX_ROW = "fix or remove that line, or re-synthesize the dataset with 'blur2video synth ...'"


def _escapes(path: str) -> bool:
    """Whether an index path could name a file outside its DATASET folder by its text alone:
    absolute, or climbing with '..' (symlinks are checked when the file is read)."""
    return "\0" in path or path.startswith("/") or ".." in path.split("/")


def _check_row(index: Path, number: int, rec: object, frames: int | None) -> dict:
    """One index line as a sample record, or a one-line error naming the line: rows come from
    a file anyone can edit, and a path outside the folder would load (and eval would copy into
    its grid) any image on the host."""
    where = f"{index}: line {number}"
    if not isinstance(rec, dict):
        raise Blur2VideoError(
            f"{where} is a JSON {type(rec).__name__}, not a sample object with 'blur' and 'frames'; {FIX_ROW}"
        )
    blur, paths = rec.get("blur"), rec.get("frames")
    if not isinstance(blur, str) or not blur:
        raise Blur2VideoError(f"{where} has no 'blur' path (a string such as samples/000000/blur.png); {FIX_ROW}")
    if not isinstance(paths, list) or not paths or not all(isinstance(f, str) and f for f in paths):
        raise Blur2VideoError(
            f"{where}: 'frames' must be a non-empty list of paths (samples/000000/frame_0.png, ...); {FIX_ROW}"
        )
    if not isinstance(rec.get("meta", {}), dict):
        raise Blur2VideoError(f"{where}: 'meta' must be an object; {FIX_ROW}")
    for path in (blur, *paths):
        if _escapes(path):
            raise Blur2VideoError(
                f"{where}: path {path!r} leads outside the DATASET folder; index paths are relative to "
                f"{index.parent} (e.g. samples/000000/blur.png): {FIX_ROW}"
            )
    if frames is not None and len(paths) != frames:
        raise Blur2VideoError(f"{where} has {len(paths)} frames where the dataset has {frames}; {FIX_ROW}")
    return rec


def read_dataset_header(root: Path) -> tuple[dict, list[dict]]:
    """dataset.json and the checked index records of a DATASET/ folder, or a one-line error
    saying what to run or which line to fix."""
    header, index = root / "dataset.json", root / "index.jsonl"
    if not root.exists():
        raise Blur2VideoError(f"{root}: no such folder; give a DATASET folder made by 'blur2video synth ...'")
    if root.is_file() and root.name in (header.name, index.name):
        raise Blur2VideoError(f"{root}: give the DATASET folder that holds it, {root.parent}")
    if not header.is_file() or not index.is_file():
        raise Blur2VideoError(
            f"{root}: not a DATASET folder (no dataset.json/index.jsonl); make one with 'blur2video synth ...'"
        )
    try:
        settings = json.loads(header.read_text())
        lines = index.read_text().splitlines()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Blur2VideoError(
            f"{root}: unreadable dataset.json or index.jsonl ({exc}); re-run the synth command to repair it"
        ) from None
    frames = settings.get("frames") if isinstance(settings, dict) else None
    if not isinstance(settings, dict) or not (frames is None or (isinstance(frames, int) and frames >= 1)):
        raise Blur2VideoError(
            f"{header}: not a dataset header (an object whose 'frames' is a count); re-run the synth command to "
            f"repair it"
        )
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise Blur2VideoError(f"{index}: line {number} is not JSON ({exc.msg}); {FIX_ROW}") from None
        records.append(_check_row(index, number, rec, frames))
        frames = frames or len(records[0]["frames"])
    if not records:
        raise Blur2VideoError(f"{root}: the dataset has no samples yet; run or resume its synth command")
    return settings, records


def _line_of(index: Path, rec: dict) -> str:
    """Where ``rec`` stands in the index ("line N"), looked up only to word an error."""
    try:
        for number, line in enumerate(index.read_text().splitlines(), 1):
            if line.strip() and json.loads(line) == rec:
                return f"line {number}"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    return f"the line of sample {rec.get('id', '?')}"


class FolderDataset(Dataset):
    """A DATASET/ folder (docs/data.md, "DATASET format"), optionally a subset of its records."""

    def __init__(
        self, root: str | Path, augment: Augment = Augment(), seed: int = 0, records: list[dict] | None = None
    ) -> None:
        self.root = Path(root)
        self.settings, all_records = read_dataset_header(self.root)
        self.records = all_records if records is None else records
        self.frames = int(self.settings.get("frames", len(self.records[0]["frames"])))
        self.real_root = self.root.resolve()
        self.augment, self.seed, self.epoch = augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def split(self, val_fraction: float) -> tuple[FolderDataset, FolderDataset]:
        """Every k-th record goes to validation (deterministic, spread over the whole dataset); a
        dataset of fewer than k records still gives its last one, so a small dataset trains."""
        if not 0 < val_fraction < 1:
            raise Blur2VideoError(f"val_fraction {val_fraction}: must be between 0 and 1")
        n = len(self.records)
        if n < 2:
            raise Blur2VideoError(
                f"{self.root}: 1 sample is too few to split off a validation set; give a validation DATASET with "
                f"--val-data (data.val_path), or synthesize more samples"
            )
        k = max(2, round(1 / val_fraction))
        held = {i for i in range(n) if i % k == k - 1} or {n - 1}
        val = [r for i, r in enumerate(self.records) if i in held]
        train = [r for i, r in enumerate(self.records) if i not in held]
        return FolderDataset(self.root, self.augment, self.seed, train), FolderDataset(
            self.root, Augment(), self.seed, val
        )

    def sample_size(self) -> tuple[Path, int, int] | None:
        """(path, width, height) of the first sample's blurred image (a DATASET's samples share one
        size), read from its header; None where it cannot be told (it is reported by name when read)."""
        from PIL import Image

        blur = self.records[0].get("blur") if isinstance(self.records[0], dict) else None
        if not isinstance(blur, str):
            return None
        path = self.root / blur
        if not path.resolve().is_relative_to(self.real_root):
            return None
        try:
            with Image.open(path) as img:
                return path, *img.size
        except (OSError, ValueError, Image.DecompressionBombError):
            return None

    def __len__(self) -> int:
        return len(self.records)

    def meta(self, i: int) -> dict:
        return self.records[i].get("meta", {})

    def _inside(self, rec: dict, rel: str) -> Path:
        """``rel`` under the root, refused if a symlink on the way leads out of the folder (the
        text was checked when the index was read; only a link can still escape)."""
        path, probe = self.root / rel, self.root
        for part in rel.split("/"):
            probe = probe / part
            if probe.is_symlink():
                real = path.resolve()
                if not real.is_relative_to(self.real_root):
                    index = self.root / "index.jsonl"
                    raise Blur2VideoError(
                        f"{index}: {_line_of(index, rec)}: {rel} is a link to {real}, outside the DATASET folder; "
                        "copy the file into the folder or re-synthesize the dataset"
                    )
                break
        return path

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rec = self.records[i]
        blur = _chw(self._inside(rec, rec["blur"]))
        frames = torch.stack([_chw(self._inside(rec, f)) for f in rec["frames"]])
        if frames.shape[-2:] != blur.shape[-2:]:
            raise Blur2VideoError(
                f"{self.root / rec['blur']}: blur and frames differ in size; re-synthesize sample {rec.get('id', i)}"
            )
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return augment_sample(blur, frames, self.augment, rng, str(self.root / rec["blur"]))


class Synthesizer(Protocol):
    """What the synthesizers' jobs offer: sample ``index`` from (its seed, index) alone."""

    def make(self, index: int) -> tuple: ...


class StreamDataset(Dataset):
    """Samples synthesized on the fly from a weighted mixture of jobs, ``length`` per epoch.

    Item ``i`` of epoch ``e`` picks a job by the weights and asks it for sample
    ``e * length + i``: new samples every epoch, none written to disk. Items are
    ``(blur, frames, order_free)``: ``order_free`` is the job's flag for the loss (whether its
    PML takes the better of both orders; ``loss.order_invariant`` per stream).
    """

    def __init__(
        self,
        jobs: list[Synthesizer],
        weights: list[float],
        length: int,
        frames: int,
        augment: Augment = Augment(),
        seed: int = 0,
        order_free: list[bool] | None = None,
    ) -> None:
        if not jobs or len(jobs) != len(weights) or min(weights) < 0 or sum(weights) <= 0:
            raise Blur2VideoError("stream: need at least one synthesizer and non-negative weights that sum above 0")
        if order_free is not None and len(order_free) != len(jobs):
            raise Blur2VideoError(f"stream: {len(order_free)} order flags for {len(jobs)} synthesizers")
        self.jobs, self.length, self.frames = jobs, length, frames
        self.order_free = list(order_free) if order_free is not None else [False] * len(jobs)
        self.p = np.asarray(weights, dtype=np.float64) / sum(weights)
        self.augment, self.seed, self.epoch = augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def _draw(self, i: int) -> tuple[np.random.Generator, int]:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return rng, int(rng.choice(len(self.jobs), p=self.p))

    def stream_of(self, i: int) -> int:
        """Which job (``[[data.stream]]`` table, in order) item ``i`` of this epoch comes from."""
        return self._draw(i)[1]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng, j = self._draw(i)
        blur, frames = self.jobs[j].make(self.epoch * self.length + i)[:2]
        blur, frames = augment_sample(_as_float(blur), _as_float(frames), self.augment, rng, f"stream sample {i}")
        return blur, frames, torch.tensor(self.order_free[j])


def _as_float(t: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Synthesizers may hand over 8-bit frames (video) or numpy arrays (camera rotation, whose
    renderer runs without torch); the network wants a float tensor in [0, 1]."""
    if isinstance(t, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(t))
    return t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()
