"""Issue 21, restore and synth input side: names that reach outside --out, errors that used to
abort a batch, decompression bombs, GIFs, 16-bit colour PNGs and what interrupted runs leave."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blur2video.cli import main
from blur2video.fileio import read_image
from blur2video.outputs import PARTIAL, REPLACED
from blur2video.restore import Restorer

FAST = ["--threads", "1", "--format", "png"]  # the bundled model takes ~0.3 s on 64 px with one thread


def save_photo(
    path: Path, seed: int = 0, size: tuple[int, int] = (64, 64), colour: tuple[int, int, int] | None = None
) -> Path:
    """A small RGB PNG: random texture, or a flat colour (to tell outputs apart)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    if colour is None:
        pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    else:
        pixels = np.broadcast_to(np.array(colour, np.uint8), (h, w, 3))
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, format="PNG")
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written by hand (PIL cannot write 16-bit colour): signature, IHDR, one IDAT, IEND."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")


def png16(array: np.ndarray) -> bytes:
    """A 16-bit grey (HxW), RGB or RGBA PNG holding exactly ``array`` (uint16)."""
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    rows = b"".join(b"\0" + array[y].astype(">u2").tobytes() for y in range(h))
    return png_bytes(w, h, 16, {1: 0, 3: 2, 4: 6}[channels], rows)


def bomb_png(side: int = 20000) -> bytes:
    """A 300-byte PNG whose header claims side x side pixels (400 MP by default, over PIL's
    179 MP refusal limit): what a decompression bomb looks like to a reader."""
    return png_bytes(side, side, 8, 2, (b"\0" * (3 * side + 1)) * 4)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("blur2video: error: ")]


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err, err


def restored(folder: Path, frames: int = 7) -> bool:
    return folder.is_dir() and all((folder / f"frame_{j}.png").is_file() for j in range(frames))


# Item 1: data loss through output names


def test_issue_repro_three_dots_name_deletes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("w/out/old").mkdir(parents=True)
    Path("w/precious.txt").write_text("keep me")
    save_photo(Path("in/...png"))
    code = main(["restore", "in/...png", "--out", "w/out", "--format", "png", "--threads", "1"])
    assert code == 0
    assert Path("w/precious.txt").read_text() == "keep me"
    assert Path("w/out/old").is_dir()
    assert restored(Path("w/out/image"))
    assert sorted(p.name for p in Path("w/out").iterdir()) == ["image", "old"]


def test_two_dots_name_keeps_out_and_default_out_keeps_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("w/out/old").mkdir(parents=True)
    Path("w/out/old/keep.txt").write_text("mine")
    Path("precious.txt").write_text("keep me")
    save_photo(Path("in/..png"))
    assert main(["restore", "in/..png", "--out", "w/out", *FAST]) == 0
    assert Path("w/out/old/keep.txt").read_text() == "mine"
    assert restored(Path("w/out/image"))
    assert main(["restore", "in/..png", *FAST]) == 0  # the default --out, restored, inside the current folder
    assert (
        Path("precious.txt").read_text() == "keep me"
        and Path("in/..png").is_file()
        and Path("w/out/old/keep.txt").is_file()
    )
    assert restored(Path("restored/image"))


def test_names_that_sanitise_alike_never_overwrite_each_other(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    colours = {
        "a/x.png": (250, 10, 10),
        "b/x.png": (10, 250, 10),
        "c/...png": (10, 10, 250),
        "c/..png": (250, 250, 10),
        "c/.png": (10, 250, 250),
    }
    paths = [save_photo(tmp_path / rel, colour=c) for rel, c in colours.items()]
    out = tmp_path / "out"
    assert main(["restore", *map(str, paths), "--out", str(out), *FAST]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["image", "image_2", "png", "x", "x_2"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    for line, (rel, colour) in zip(lines, colours.items(), strict=False):
        source, folder = line.split(" -> ")
        assert source == str(tmp_path / rel)
        middle = np.asarray(Image.open(folder.split("/ (")[0] + "/frame_3.png"), np.float32).mean(axis=(0, 1))
        assert np.abs(middle - colour).max() < 40, (rel, middle)  # each folder holds its own input


def test_existing_output_name_that_restore_did_not_write_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "diary.txt").write_text("mine")
    (out / "plain").write_text("a file named like an output")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "frame_0.png").write_text("looks like ours, is not")
    (out / "linked").symlink_to(elsewhere)
    inputs = [
        save_photo(tmp_path / "in" / f"{n}.png", seed=i) for i, n in enumerate(["notes", "plain", "linked", "good"])
    ]
    code = main(["restore", *map(str, inputs), "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert_no_traceback(err)
    assert code == 2
    lines = error_lines(err)
    assert len(lines) == 3 and all(str(p) in line for p, line in zip(inputs, lines, strict=False))
    assert "diary.txt" in lines[0] and "choose another --out" in lines[0]
    assert (out / "notes" / "diary.txt").read_text() == "mine"
    assert (out / "plain").read_text() == "a file named like an output"
    assert (elsewhere / "frame_0.png").read_text() == "looks like ours, is not"
    assert restored(out / "good")


def test_rerun_replaces_an_earlier_output_of_restore(tmp_path: Path) -> None:
    out = tmp_path / "out"
    photo = save_photo(tmp_path / "cup.png", colour=(200, 30, 30))
    assert main(["restore", str(photo), "--out", str(out), "--threads", "1"]) == 0  # every output kind
    first = {p.name for p in (out / "cup").iterdir()}
    assert {"cup.gif", "cup.mp4", "sheet.png", "motion.json", "motion.png"} <= first
    save_photo(photo, colour=(30, 30, 200))
    assert main(["restore", str(photo), "--out", str(out), "--threads", "1"]) == 0
    blue = np.asarray(Image.open(out / "cup" / "frame_3.png"), np.float32).mean(axis=(0, 1))
    assert blue[2] > blue[0] + 100
    assert sorted(p.name for p in out.iterdir()) == ["cup"]


# Item 5: errors that aborted the whole batch


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in: read-only permissions, or (for root, who
    ignores them) sysfs, where nobody can."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        (locked / "probe").write_text("")
    except OSError:
        return locked
    (locked / "probe").unlink()
    if Path("/sys/kernel").is_dir():
        return Path("/sys/kernel")
    pytest.skip("no folder this user cannot write to")


@pytest.mark.parametrize("kind", ["out_is_file", "out_inside_a_file", "unwritable"])
def test_bad_out_is_one_line_before_any_photo_is_computed(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("user data")
    out = {"out_is_file": blocker, "out_inside_a_file": blocker / "out", "unwritable": None}[
        kind
    ] or _unwritable_folder(tmp_path) / "out"

    def computed(*args: object, **kwargs: object) -> None:
        raise AssertionError("a photo was computed before --out was checked")

    monkeypatch.setattr(Restorer, "restore", computed)
    code = main(["restore", str(save_photo(tmp_path / "p.png")), "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert_no_traceback(err)
    assert code == 2
    assert error_lines(err) == err.strip().splitlines() and len(error_lines(err)) == 1
    assert str(out) in err and "--out" in err
    assert blocker.read_text() == "user data"


def test_decompression_bomb_is_one_line_and_the_batch_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bomb = tmp_path / "in" / "bomb.png"
    bomb.parent.mkdir()
    bomb.write_bytes(bomb_png())
    good = save_photo(tmp_path / "in" / "good.png")
    out = tmp_path / "out"
    code = main(["restore", str(bomb), str(good), "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert_no_traceback(err)
    assert code == 2
    assert len(error_lines(err)) == 1 and str(bomb) in err and "too many pixels" in err
    assert restored(out / "good")
    assert sorted(p.name for p in out.iterdir()) == ["good"]


@pytest.mark.parametrize("command", ["rotation-photo", "rotation-panorama", "video-frames"])
def test_decompression_bomb_in_synth_sources_is_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    out = tmp_path / "data"
    if command == "video-frames":
        for i in range(4):
            save_photo(source / f"{i:03d}.png", seed=i)
        (source / "002.png").write_bytes(bomb_png())
        args = ["synth", "video", "--source", str(source), "--out", str(out), "--frames", "3", "--size", "32"]
        bad = source / "002.png"
    else:
        save_photo(source / "ok.png", size=(96, 192))
        bad = source / "zz.png"
        bad.write_bytes(bomb_png())
        kind = command.split("-")[1]
        args = [
            "synth",
            "rotation",
            "--kind",
            kind,
            "--source",
            str(source),
            "--out",
            str(out),
            "--samples",
            "2",
            "--size",
            "32",
        ]
    code = main(args)
    err = capsys.readouterr().err
    assert_no_traceback(err)
    assert code == 2
    assert err.strip().splitlines() == error_lines(err) and len(error_lines(err)) == 1
    assert str(bad) in err and "too many pixels" in err


def test_a_write_failing_midway_is_one_line_and_keeps_the_earlier_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import errno

    from blur2video import outputs

    first, second = save_photo(tmp_path / "a.png", colour=(200, 30, 30)), save_photo(tmp_path / "b.png", seed=1)
    out = tmp_path / "out"
    assert main(["restore", str(first), str(second), "--out", str(out), *FAST]) == 0
    earlier = (out / "a" / "frame_3.png").read_bytes()
    save_photo(first, colour=(30, 30, 200))
    real, calls = outputs.write_png, []

    def disk_full_on_the_second_frame(path: Path, image: np.ndarray) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, image)

    monkeypatch.setattr(outputs, "write_png", disk_full_on_the_second_frame)
    code = main(["restore", str(first), str(second), "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert_no_traceback(err)
    assert code == 2
    assert len(error_lines(err)) == 1 and str(first) in err and "No space left" in err
    assert (out / "a" / "frame_3.png").read_bytes() == earlier and restored(out / "a")
    assert restored(out / "b") and sorted(p.name for p in out.iterdir()) == ["a", "b"]


# Item 11: GIFs, 16-bit colour, interrupted writes


def test_animated_gif_is_restored_from_its_first_frame_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
    frames = [Image.new("RGB", (64, 48), c) for c in colours]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    Image.new("RGB", (64, 48), (90, 90, 90)).save(folder / "still.gif")
    save_photo(folder / "photo.png")
    (folder / "readme.txt").write_text("not a photo")
    out = tmp_path / "out"
    assert main(["restore", str(folder), "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["anim", "photo", "still"]  # GIFs in folders are restored
    notes = [line for line in err.splitlines() if line.startswith("blur2video: note: ")]
    assert len([n for n in notes if "anim.gif" in n and "3 frames" in n and "first frame" in n]) == 1
    assert len([n for n in notes if "readme.txt" in n]) == 1  # a skipped file is said, not silent
    assert not [n for n in notes if "still.gif" in n]
    blur = Restorer.from_pretrained("cpu").restore(folder / "anim.gif").blur
    np.testing.assert_allclose(blur.mean(axis=(0, 1)) * 255, colours[0], atol=1)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_png_keeps_its_precision(channels: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(channels)
    shape = (40, 48) if channels == 1 else (40, 48, channels)
    values = rng.integers(0, 65536, shape, dtype=np.uint16)
    values[..., :2, :2] = 257 * 7 + 1  # low byte set: lost when cut to 8 bits
    path = tmp_path / "deep.png"
    path.write_bytes(png16(values))
    notes: list[str] = []
    image = read_image(path, notes)
    expected = np.repeat(values[..., None], 3, axis=2) if channels == 1 else values[..., :3]
    np.testing.assert_allclose(image, expected / 65535.0, atol=1e-6)
    assert len(notes) == (1 if channels == 4 else 0)
    blur = Restorer.from_pretrained("cpu").restore(path).blur
    np.testing.assert_allclose(blur, expected / 65535.0, atol=1e-6)


def test_16bit_png_with_exif_orientation_is_turned(tmp_path: Path) -> None:
    values = np.random.default_rng(5).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    plain = png16(values)
    path = tmp_path / "turned.png"
    path.write_bytes(
        plain[:33] + _chunk(b"eXIf", exif.tobytes()[6:]) + plain[33:]
    )  # after IHDR; the chunk holds no "Exif" header
    notes: list[str] = []
    np.testing.assert_allclose(read_image(path, notes), np.rot90(values, -1) / 65535.0, atol=1e-6)
    assert notes == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_rerun_removes_only_stale_temporary_folders_of_restore(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import socket

    out = tmp_path / "out"
    out.mkdir()
    host, dead = socket.gethostname(), _dead_pid()
    host = "".join(c if c.isalnum() or c in "_-" else "_" for c in host)[:32]
    stale = [out / f"{PARTIAL}.{host}.{dead}.cup", out / f".tmp-cup-{dead}"]  # ours, and what earlier versions left
    for folder in stale:
        folder.mkdir()
        (folder / "frame_0.png").write_bytes(b"half a png")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = {
            out / f"{PARTIAL}.{host}.{sleeper.pid}.cup": "frame_0.png",  # a run still writing
            out / f".tmp-cup-{dead}-x": "frame_0.png",  # not our pattern
            out / f".tmp-notes-{dead}": "diary.txt",  # our pattern, someone else's content
            out / f"{PARTIAL}.otherhost.{dead}.cup": "frame_0.png",  # another machine's run
        }
        for folder, file in kept.items():
            folder.mkdir()
            (folder / file).write_text("keep")
        aside = out / f"{REPLACED}.{host}.{dead}.old"  # killed between moving an output aside and landing the new one
        aside.mkdir()
        (aside / "frame_0.png").write_text("earlier output")
        assert main(["restore", str(save_photo(tmp_path / "cup.png")), "--out", str(out), *FAST]) == 0
        err = capsys.readouterr().err
        assert all(not f.exists() for f in stale)
        assert all((f / file).read_text() == "keep" for f, file in kept.items())
        assert (out / "old" / "frame_0.png").read_text() == "earlier output"
        assert len([line for line in err.splitlines() if "interrupted run" in line]) == 2
        assert restored(out / "cup")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_sigterm_while_writing_leaves_no_partial_folder(tmp_path: Path) -> None:
    inputs = [save_photo(tmp_path / "in" / f"p{i}.png", seed=i, size=(96, 128)) for i in range(12)]
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    cmd = [
        sys.executable,
        "-m",
        "blur2video",
        "restore",
        *map(str, inputs),
        "--out",
        str(out),
        "--threads",
        "1",
        "--format",
        "gif,mp4",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and any(p.name.startswith(PARTIAL) for p in out.iterdir()):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "restore ended before a write could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert_no_traceback(err)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1].startswith("blur2video: interrupted")
    left = sorted(p.name for p in out.iterdir())
    assert not [n for n in left if n.startswith(".")], left
    assert all(restored(out / n) and (out / n / f"{n}.mp4").is_file() for n in left)
