"""The page's service without Gradio: what it refuses and how it says so, what it restores and
keeps, the downloads it makes from outputs.py's writers, and that nothing stays on disk."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blur2video import Restorer
from blur2video.errors import Blur2VideoError
from blur2video.model import Blur2Video, ModelConfig
from blur2video.serve import Limits, Service, plan, status_html, viewer_html

from .conftest import TEST_LIMITS, files_under, save_photo


@pytest.fixture
def service(restorer: Restorer, tmp_path: Path) -> Iterator[Service]:
    service = Service(restorer, TEST_LIMITS, tmp_path / "scratch")
    yield service
    service.close()


def test_plan_counts_the_tiles_restore_runs(tmp_path: Path, monkeypatch) -> None:
    """The page's time estimate rests on this count: it must be restore's own. The count does not
    depend on the weights, so a small random model runs the tiles (the bundled one took 10 s)."""
    torch.manual_seed(0)
    model = Blur2Video(ModelConfig(frames=3, base_channels=4, growth=4)).eval()
    restorer = Restorer(model, {}, torch.device("cpu"))
    calls = []
    run = restorer._run
    monkeypatch.setattr(restorer, "_run", lambda *a, **k: calls.append(1) or run(*a, **k))
    for height, width in [(96, 128), (256, 320)]:
        calls.clear()
        restorer.restore(save_photo(tmp_path / "p.png", height, width), max_pixels=224 * 224)
        assert len(calls) == plan(width, height, 224 * 224)[0]
    assert plan(320, 256, 224 * 224)[0] == 4


def _truncated(path: Path, fmt: str) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)).save(buffer, fmt)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD = {
    "empty": (lambda p: _write(p, b""), "file is empty"),
    "text": (lambda p: _write(p, b"not a photo"), "not an image"),
    "truncated png": (lambda p: _truncated(p, "PNG"), "not a readable image"),
    "truncated jpeg": (lambda p: _truncated(p, "JPEG"), "not a readable image"),
    "too many megapixels": (lambda p: save_photo(p, 400, 400), "400x400 is 0.16 MP, over this page's limit of 0.1 MP"),
    "too many bytes": (
        lambda p: _write(p, b"\x89PNG" + bytes(400_000)),
        "0.4 MB is over this page's limit of 0.3 MB",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_files_are_refused_in_one_line_naming_the_upload(service: Service, tmp_path: Path, case: str) -> None:
    make, expected = BAD[case]
    path = make(tmp_path / "tmp-upload-3f9a.png")
    with pytest.raises(Blur2VideoError) as info:
        service.restore(path, "holiday.png")
    message = str(info.value)
    assert message.startswith("holiday.png: ") and expected in message
    assert "\n" not in message and str(tmp_path) not in message
    assert not service.results and not service.runs  # refused before any work


def test_restore_keeps_the_result_and_makes_every_download(service: Service, photo: Path) -> None:
    result = service.restore(photo, "my cup.png")
    assert result.size == (128, 96) and result.tiles == 1 and result.frames.shape == (7, 96, 128, 3)
    assert service.rate is not None and service.estimate(1280, 720) > service.estimate(128, 96)
    get = lambda name: service.file(result.token, name)  # noqa: E731
    assert Image.open(io.BytesIO(get("frame_3.jpg"))).size == (128, 96)
    assert Image.open(io.BytesIO(get("input.jpg"))).size == (128, 96)
    gif = Image.open(io.BytesIO(get("my cup.gif")))
    assert gif.n_frames == 7 and gif.size == (128, 96)
    import imageio.v3 as iio

    assert iio.imread(get("my cup.mp4"), extension=".mp4").shape[0] == 7
    with zipfile.ZipFile(io.BytesIO(get("my cup_frames.zip"))) as archive:
        assert sorted(archive.namelist()) == [f"frame_{j}.png" for j in range(7)]
        first = np.asarray(Image.open(io.BytesIO(archive.read("frame_0.png"))))
        np.testing.assert_array_equal(first, result.frames[0])  # full size, lossless
    motion = json.loads(get("motion.json"))
    assert motion["size"] == [128, 96] and len(motion["frames"]) == 7 and "flow_mean_px" in motion["frames"][0]
    assert Image.open(io.BytesIO(get("motion.png"))).format == "PNG"
    assert get("../etc/passwd") is None and service.file("nope", "motion.json") is None
    assert files_under(service.scratch) == []  # every download's folder was deleted


def test_only_the_last_results_are_kept(restorer: Restorer, photo: Path, tmp_path: Path) -> None:
    service = Service(restorer, TEST_LIMITS, tmp_path / "scratch", keep=2)
    tokens = [service.restore(photo, "cup.png").token for _ in range(3)]
    assert list(service.results) == tokens[1:]
    assert service.file(tokens[0], "motion.json") is None and service.file(tokens[2], "motion.json")


def test_large_photos_are_tiled_and_the_time_is_estimated(service: Service, tmp_path: Path) -> None:
    service.restore(save_photo(tmp_path / "small.png"), "small.png")  # gives the rate
    text = service.describe(320, 256)
    assert text.startswith("320x256 (0.0819 MP) in 4 overlapping tiles") and ", about " in text
    result = service.restore(save_photo(tmp_path / "big.png", 256, 320), "big.png")
    assert result.tiles == 4 and result.frames.shape == (7, 256, 320, 3)


def test_restores_run_one_at_a_time(service: Service, photo: Path) -> None:
    threads = [threading.Thread(target=service.restore, args=(photo, "cup.png")) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = sorted(service.runs)
    assert len(runs) == 3
    assert all(end <= start for (_, end), (start, _) in zip(runs, runs[1:], strict=False))


def test_page_text_is_escaped(service: Service, photo: Path) -> None:
    result = service.restore(photo, "<img src=x onerror=alert(1)>.png")
    page = viewer_html(result) + status_html("done", "<b>", ["<i>"])
    assert "<img src=x" not in page and "&lt;b&gt;" in page and "&lt;i&gt;" in page
    assert page.count('class="b2v-frame') == 7 and 'max="6"' in page


def test_limits_default_to_restores_tiles(tmp_path: Path) -> None:
    assert Limits().tile_pixels == 1280 * 736 and plan(1280, 720)[0] == 1 and plan(4000, 3000)[0] > 1
