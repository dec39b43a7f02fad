"""The page's API end to end, from Gradio's own client against a live server on loopback: good,
bad and huge photos, the bundled example, the queue, nothing left on disk, memory over 20 uploads,
and no connection leaving the machine."""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import tracemalloc
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from blur2video.cli import build_parser, main

from .conftest import Live, files_under, save_photo


def client(live: Live):
    from gradio_client import Client

    return Client(live.url + "/", verbose=False)


def upload(live: Live, path: Path, api: object = None) -> list[tuple[str, str]]:
    """Every (status, viewer) the page showed for one upload, in order (the third output, the
    upload box, is emptied at once)."""
    from gradio_client import handle_file

    job = (api or client(live)).submit(handle_file(str(path)), api_name="/restore")
    job.result(timeout=300)
    return [tuple(output[:2]) for output in job.outputs()]


def get(live: Live, viewer: str, name: str) -> bytes:
    token = re.search(r'data-token="([^"]+)"', viewer)[1]
    with urllib.request.urlopen(f"{live.url}/b2v/{token}/{name}", timeout=60) as response:
        return response.read()


def test_a_photo_is_restored_with_progress_then_frames_and_downloads(live: Live, tmp_path: Path) -> None:
    steps = upload(live, save_photo(tmp_path / "cup.png"))
    first, (status, viewer) = steps[0][0], steps[-1]
    assert "Restoring cup.png: 128x96" in first and "in one pass, about" in first and "<progress" in first
    assert "Restored cup.png (128x96)" in status and viewer.count('class="b2v-frame') == 7
    assert get(live, viewer, "frame_3.jpg")[:2] == b"\xff\xd8"
    assert get(live, viewer, "cup.gif")[:6] == b"GIF89a"
    assert get(live, viewer, "motion.png")[:4] == b"\x89PNG"


def test_a_large_photo_is_tiled_and_its_time_shown_first(live: Live, tmp_path: Path) -> None:
    steps = upload(live, save_photo(tmp_path / "wide.png", 256, 320))
    assert "in 4 overlapping tiles, as restore does, about" in steps[0][0]
    assert "Restored wide.png (320x256) in" in steps[-1][0] and "4 tiles" in steps[-1][0]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("notes.png", b"these are notes, not a photo", "notes.png: not an image"),
        ("empty.jpg", b"", "empty.jpg: file is empty"),
        ("cut.png", None, "cut.png: not a readable image (image file is truncated"),
        ("huge.png", "huge", "huge.png: 400x400 is 0.16 MP, over this page's limit of 0.1 MP"),
    ],
)
def test_bad_photos_get_one_line_in_the_page(live: Live, tmp_path: Path, name: str, data, expected: str) -> None:
    path = tmp_path / name
    if data is None:
        whole = save_photo(tmp_path / "whole.png").read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif data == "huge":
        save_photo(path, 400, 400)
    else:
        path.write_bytes(data)
    runs = len(live.service.runs)
    (status, viewer), *_ = upload(live, path)[-1:]
    assert status.startswith('<div class="b2v-error">') and expected in status.replace("&#x27;", "'")
    assert "Traceback" not in status and viewer == ""
    assert len(live.service.runs) == runs  # refused before the model ran


def test_an_upload_over_the_size_limit_is_refused_by_the_server(live: Live, tmp_path: Path) -> None:
    import httpx

    response = httpx.post(f"{live.url}/gradio_api/upload", files={"files": ("big.png", bytes(400_000))})
    assert response.status_code == 413 and "maximum allowed size" in response.text


def test_only_uploaded_files_are_read(live: Live) -> None:
    """The API payload names a path: one outside the page's upload folder is refused, whether
    Gradio or the page refuses it (through Gradio's documented REST API, as curl would call it)."""
    import httpx

    payload = {"path": sys.executable, "orig_name": "x.png", "meta": {"_type": "gradio.FileData"}}
    started = httpx.post(f"{live.url}/gradio_api/call/restore", json={"data": [payload]}, timeout=60)
    if started.status_code == 200:
        event = started.json()["event_id"]
        stream = httpx.get(f"{live.url}/gradio_api/call/restore/{event}", timeout=120).text
        assert "not an uploaded file" in stream or "event: error" in stream, stream
    else:
        assert started.status_code in (400, 403, 422)
    assert not [p for p in files_under(live.scratch) if p.name == Path(sys.executable).name]  # not even copied


def test_the_bundled_example(live: Live) -> None:
    from PIL import Image

    from blur2video.restore import bundled_example

    w, h = Image.open(bundled_example()).size
    status, viewer = client(live).predict(api_name="/example")
    assert f"Restored the bundled example ({w}x{h})" in status and 'data-frames="7"' in viewer


def test_requests_queue_one_at_a_time(live: Live, tmp_path: Path) -> None:
    from gradio_client import handle_file

    api = client(live)
    before = len(live.service.runs)
    jobs = [api.submit(handle_file(str(save_photo(tmp_path / f"p{k}.png"))), api_name="/restore") for k in range(3)]
    statuses = [job.result(timeout=300)[0] for job in jobs]  # (status, viewer, upload box)
    assert all("Restored p" in s for s in statuses)
    runs = sorted(live.service.runs[before:])
    assert len(runs) == 3 and all(end <= start for (_, end), (start, _) in zip(runs, runs[1:], strict=False))


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+) kB", status.read())[1]) / 1024


def rest_upload(http, path: Path) -> tuple[str, str]:
    """One upload through Gradio's documented REST API, as curl would make it, with an
    ``httpx.Client`` on the live server (one for many uploads: each new client loads the system's
    certificates, 70 ms)."""
    (uploaded,) = http.post("/gradio_api/upload", files={"files": (path.name, path.read_bytes())}).json()
    payload = {"path": uploaded, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
    event = http.post("/gradio_api/call/restore", json={"data": [payload]}).json()["event_id"]
    stream = http.get(f"/gradio_api/call/restore/{event}").text
    status, viewer, _ = json.loads(stream.split("event: complete\ndata: ", 1)[1].splitlines()[0])
    return status, viewer


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc (Linux)")
def test_twenty_sequential_uploads_hold_memory_flat(live: Live, tmp_path: Path) -> None:
    """Each upload also fetches what the page fetches (frames, motion picture) and one download.
    A 96x128 photo's result holds ~1 MB (flow, frames, files): kept for every upload, 15 of them
    would add 15 MB. Two measures: what Python and numpy hold (tracemalloc: exact, a kept result
    shows at once; traced from upload 6, as tracing doubles an upload's time), and resident memory,
    which also holds what the allocator keeps once freed (blur2video.runtime): that settles over the
    first uploads, then stays flat. The objects alive before the first upload are frozen out of
    the collector (``gc.freeze``): the collection after each upload then scans only what uploads
    made, not torch's and Gradio's 300,000 objects (0.3-0.4 s a collection)."""
    import httpx

    photo, rss, held = save_photo(tmp_path / "cup.png"), [], []
    gc.collect()
    gc.freeze()
    try:
        with httpx.Client(base_url=live.url, timeout=300) as http:
            for upload in range(20):
                if upload == 5:
                    tracemalloc.start()
                status, viewer = rest_upload(http, photo)
                assert "Restored cup.png" in status
                for name in ("frame_0.jpg", "input.jpg", "motion.png", "cup.gif"):
                    get(live, viewer, name)
                gc.collect()
                held.append(tracemalloc.get_traced_memory()[0] / 2**20)
                rss.append(_rss_mb())
    finally:
        tracemalloc.stop()
        gc.unfreeze()
    print(f"\nresident memory over 20 uploads (MB): {' '.join(f'{r:.0f}' for r in rss)}")
    print(f"held by Python and numpy since upload 6 (MB): {' '.join(f'{h:.1f}' for h in held[5:])}")
    assert held[-1] - held[7] < 6, f"Python and numpy hold {held[-1] - held[7]:.0f} MB more after upload 20 than 8"
    assert rss[-1] - rss[9] < 30, f"resident memory grew {rss[-1] - rss[9]:.0f} MB from upload 10 to 20"
    assert len(live.service.results) == live.service.keep


def test_nothing_is_left_on_disk_and_nothing_leaves_the_machine(live: Live, tmp_path: Path) -> None:
    """Run after the others in this module: every upload and download folder is gone, Gradio wrote
    nothing in the working folder, and no connection or name look-up went beyond loopback."""
    upload(live, save_photo(tmp_path / "last.png"))
    assert files_under(live.scratch) == [] and list(live.cwd.iterdir()) == []
    assert live.outbound == []


def test_the_server_listens_on_loopback_by_default() -> None:
    from blur2video.serve import listen, serve

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    assert serve.__defaults__[0] == "127.0.0.1"
    sock = listen("127.0.0.1", 0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()


def test_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gradio", reason="serve checks for Gradio first")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("blur2video: error: --host 127.0.0.1 --port") and "choose another --port" in err
    assert err.count("\n") == 1


def test_without_gradio_serve_names_the_pip_command(monkeypatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio now raises ImportError
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == (
        "blur2video: error: the web page needs Gradio, an optional extra: pip install 'blur2video[serve]'\n"
    )


def test_importing_the_package_does_not_import_gradio() -> None:
    code = "import blur2video, blur2video.cli, blur2video.serve, sys; print('gradio' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_result_files_of_unknown_results_are_404(live: Live) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{live.url}/b2v/nope/motion.json", timeout=30)
    assert info.value.code == 404


@pytest.mark.slow
def test_the_command_serves_until_interrupted_and_leaves_nothing(tmp_path: Path) -> None:
    """``blur2video serve`` itself: loopback, a free port, the page answers, Ctrl-C stops it with
    exit code 0 and its private folder (Gradio's included) is gone."""
    pytest.importorskip("gradio", reason="the page needs Gradio: pip install -e '.[serve]'")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "blur2video", "serve", "--port", "0", "--device", "cpu"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(600, server.kill)
    watchdog.start()
    try:
        lines = []
        while not (lines and "http://" in lines[-1]) and server.poll() is None:
            lines.append(server.stderr.readline())
        url = re.search(r"http://127\.0\.0\.1:\d+/", lines[-1])
        assert url, lines
        with urllib.request.urlopen(url[0], timeout=60) as response:
            assert response.status == 200 and b"blur2video" in response.read()
        assert [p.name.startswith("blur2video-serve-") for p in tmp_path.iterdir()] == [True]
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=300) == 0
    finally:
        watchdog.cancel()
        server.kill()
    assert list(tmp_path.iterdir()) == []
    assert server.stderr.read().strip() == "blur2video serve: stopped"
