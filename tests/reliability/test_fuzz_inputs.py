"""Issue 21's fuzz test: seeded random corruptions of valid PNG and JPEG files fed to ``restore``
(hundreds in a few in-process CLI calls) and to ``synth rotation --kind photo``.

Some corruptions still decode (a flipped byte in JPEG entropy data, garbage after the end): those
are good inputs and must be restored. So the check is per file: restored, or exactly one line
naming it; never a traceback, never a file touched outside --out, the pristine inputs restored.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blur2video.checkpoints import save_model
from blur2video.cli import main
from blur2video.model.config import ModelConfig
from blur2video.model.network import Blur2Video

SEED = 21
CORRUPTIONS = 240  # fed to restore
SYNTH_CORRUPTIONS = 20  # fed to synth rotation, one source file per call


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 3-frame model: ~50 ms a photo, so hundreds fit in seconds."""
    torch.manual_seed(SEED)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, Blur2Video(ModelConfig(frames=3, base_channels=4, growth=4)))
    return path


def valid_files(rng: np.random.Generator) -> dict[str, bytes]:
    """Small valid images in the formats users give: RGB and grey PNG, baseline and progressive JPEG."""
    yy, xx = np.mgrid[0:48, 0:64]
    smooth = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).astype(np.uint8)
    noisy = np.clip(smooth + rng.integers(-40, 40, smooth.shape), 0, 255).astype(np.uint8)
    files = {}
    for name, image, kwargs in [
        ("rgb.png", Image.fromarray(noisy), {}),
        ("grey.png", Image.fromarray(noisy[..., 0]), {}),
        ("base.jpg", Image.fromarray(noisy), {"quality": 90}),
        ("prog.jpg", Image.fromarray(smooth), {"quality": 80, "progressive": True}),
    ]:
        buf = io.BytesIO()
        image.save(buf, format="PNG" if name.endswith(".png") else "JPEG", **kwargs)
        files[name] = buf.getvalue()
    return files


def _flip(data: bytes, rng: np.random.Generator, lo: int, hi: int, count: int) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(lo, max(lo + 1, min(hi, len(out))), count):
        out[pos] ^= int(rng.integers(1, 256))
    return bytes(out)


def _rechecked(data: bytes, rng: np.random.Generator) -> bytes:
    """PNG: flip bytes inside one chunk (IHDR half the time) and write its CRC anew, so the
    damage passes the checksum and reaches the decoder, as a buggy writer's would. JPEG, which
    has no checksum: flip bytes in its first segments."""
    if not data.startswith(b"\x89PNG"):
        return _flip(data, rng, 2, 300, int(rng.integers(1, 4)))
    chunks, pos = [], 8
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        if length:
            chunks.append((pos, length))
        pos += 12 + length
    start, length = chunks[0] if rng.random() < 0.5 else chunks[int(rng.integers(len(chunks)))]
    body = bytearray(data[start + 4 : start + 8 + length])  # type and data, what the CRC covers
    for k in rng.integers(4, len(body), int(rng.integers(1, 4))):
        body[k] ^= int(rng.integers(1, 256))
    crc = struct.pack(">I", zlib.crc32(bytes(body)) & 0xFFFFFFFF)
    return data[: start + 4] + bytes(body) + crc + data[start + 12 + length :]


MUTATORS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "checksum_kept": _rechecked,
    "truncated": lambda d, r: d[: int(r.integers(1, len(d)))],
    "bytes_flipped": lambda d, r: _flip(d, r, 0, len(d), int(r.integers(1, 9))),
    "header_damaged": lambda d, r: _flip(d, r, 0, 100, int(r.integers(1, 5))),
    "empty": lambda d, r: b"",
    "random_bytes": lambda d, r: r.integers(0, 256, int(r.integers(1, 3000)), dtype=np.uint8).tobytes(),
    "bytes_inserted": lambda d, r: (
        lambda p: d[:p] + r.integers(0, 256, int(r.integers(1, 65)), dtype=np.uint8).tobytes() + d[p:]
    )(int(r.integers(0, len(d)))),
    "range_deleted": lambda d, r: (lambda p: d[:p] + d[p + int(r.integers(1, 200)) :])(int(r.integers(0, len(d)))),
    "block_zeroed": lambda d, r: (lambda p, n: d[:p] + bytes(n) + d[p + n :])(
        int(r.integers(0, len(d))), int(r.integers(16, 257))
    ),
    "garbage_appended": lambda d, r: d + r.integers(0, 256, int(r.integers(1, 500)), dtype=np.uint8).tobytes(),
    "signature_only": lambda d, r: d[: int(r.integers(2, 41))],
}


def corrupt_files(folder: Path, count: int, rng: np.random.Generator) -> list[Path]:
    """``count`` corrupted copies of the valid files, every mutator on every format in turn."""
    folder.mkdir(parents=True)
    bases = list(valid_files(rng).items())
    kinds = list(MUTATORS)
    paths = []
    for i in range(count):
        base_name, data = bases[i % len(bases)]
        kind = kinds[(i // len(bases)) % len(kinds)]
        path = folder / f"c{i:03d}_{kind}_{base_name}"
        path.write_bytes(MUTATORS[kind](data, rng))
        paths.append(path)
    return paths


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every file and folder under ``root`` but ``skip``, with a hash of each file's bytes."""
    found = {}
    for p in sorted(root.rglob("*")):
        if p == skip or skip in p.parents:
            continue
        found[str(p.relative_to(root))] = hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return found


def check_per_file(paths: list[Path], stdout: str, stderr: str, frames: int, out: Path) -> tuple[int, int]:
    """Each input restored (its folder complete) or given exactly one error line; returns
    (restored, refused)."""
    assert "Traceback" not in stderr, stderr
    assert all(line.startswith("blur2video: ") for line in stderr.splitlines()), stderr
    done = {}
    for line in stdout.splitlines():
        source, folder = line.split(" -> ")
        done[source] = Path(folder.split("/ (")[0])
    errors = [line for line in stderr.splitlines() if line.startswith("blur2video: error: ")]
    for path in paths:
        mine = [line for line in errors if line.startswith(f"blur2video: error: {path}:")]
        if str(path) in done:
            assert not mine, (path, mine)
            assert all((done[str(path)] / f"frame_{j}.png").is_file() for j in range(frames)), path
        else:
            assert len(mine) == 1, (path, mine)
    assert len(errors) == len(paths) - len(done)
    assert sorted(p.name for p in out.iterdir()) == sorted(f.name for f in done.values())  # nothing half-written
    return len(done), len(paths) - len(done)


def test_restore_survives_corrupt_png_and_jpeg(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    rng = np.random.default_rng(SEED)
    corrupt = corrupt_files(tmp_path / "in" / "corrupt", CORRUPTIONS, rng)
    good = []
    for name, data in list(valid_files(rng).items())[::3]:  # one PNG, one JPEG
        good.append(tmp_path / "in" / "good" / name)
        good[-1].parent.mkdir(exist_ok=True)
        good[-1].write_bytes(data)
    (tmp_path / "precious.txt").write_text("keep")
    outs = tmp_path / "out"
    before = snapshot(tmp_path, outs)
    totals = np.zeros(2, int)
    half = len(corrupt) // 2
    for k, batch in enumerate((corrupt[:half] + good[:1], corrupt[half:] + good[1:])):
        out = outs / str(k)
        code = main(
            [
                "restore",
                *map(str, batch),
                "--out",
                str(out),
                "--checkpoint",
                str(tiny_checkpoint),
                "--format",
                "png",
                "--threads",
                "1",
                "--quiet",  # step lines off: every line left on stderr is an input's error
            ]
        )
        captured = capsys.readouterr()
        totals += check_per_file(batch, captured.out, captured.err, 3, out)
        assert code == 2
        assert all(f"{g} -> " in captured.out for g in batch if g in good)
    assert snapshot(tmp_path, outs) == before  # nothing outside --out touched, inputs unchanged
    restored, refused = totals
    assert refused >= CORRUPTIONS // 2 and restored > len(good), (
        totals
    )  # the corruptions bite, and decodable ones are restored


def test_synth_rotation_survives_corrupt_photo_sources(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(SEED + 1)
    sources = corrupt_files(tmp_path / "sources", SYNTH_CORRUPTIONS, rng)
    before = snapshot(tmp_path, tmp_path / "data")
    refused = 0
    for i, source in enumerate(sources):
        out = tmp_path / "data" / str(i)
        code = main(
            [
                "synth",
                "rotation",
                "--kind",
                "photo",
                "--source",
                str(source),
                "--out",
                str(out),
                "--samples",
                "1",
                "--size",
                "16",
                "--max-angle",
                "1",
            ]
        )
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err, captured.err
        if code == 0:
            assert (out / "index.jsonl").read_text().count("\n") == 1, source
            continue
        refused += 1
        assert code == 2
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("blur2video: error: ") and source.name in lines[0], (
            source,
            lines,
        )
    assert snapshot(tmp_path, tmp_path / "data") == before
    assert refused >= SYNTH_CORRUPTIONS // 2
