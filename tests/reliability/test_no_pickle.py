"""Checkpoints are never unpickled: a pickle that runs code when loaded is refused, not run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from blur2video.cli import main


class _Marker:
    """Unpickling this writes a file: proof that something unpickled it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (self.path, "unpickled"))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".pth"])
def test_a_pickled_checkpoint_is_refused_in_one_line_and_never_run(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture
) -> None:
    marker = tmp_path / "ran.txt"
    checkpoint = tmp_path / f"evil{suffix}"
    checkpoint.write_bytes(pickle.dumps(_Marker(marker)))
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (120, 80, 40)).save(photo)
    assert main(["restore", str(photo), "--out", str(tmp_path / "out"), "--checkpoint", str(checkpoint)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(checkpoint) in err[0] and "Traceback" not in err[0]
    assert not marker.exists()


def test_the_package_never_calls_an_unpickler() -> None:
    """No torch.load / pickle.load anywhere in the package: weights come from safetensors alone."""
    src = Path(__file__).resolve().parents[2] / "src" / "blur2video"
    offenders = [
        str(p)
        for p in src.rglob("*.py")
        if any(s in p.read_text() for s in ("torch.load(", "pickle.load", "pickle.loads"))
    ]
    assert offenders == []
