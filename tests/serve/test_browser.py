"""The page in a real headless browser: Debian's chromium, driven by Playwright (from PyPI, which
downloads no browser of its own here). A photo is uploaded as a person would, the animation must
appear and play, the slider must pick a frame, the page must fit 1280x720, and nothing may be
fetched from beyond the server. The screenshot goes to $BLUR2VIDEO_SCREENSHOT when it is set
(docs/serve.png is made so)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from blur2video.restore import bundled_example
from blur2video.serve import OFFLINE_ENV, Limits, Service, serve_in_thread

from .conftest import files_under

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page_url(restorer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service, Path]]:
    """The page with the default limits (what a user gets), served from an empty folder."""
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH: install Debian's package (apt-get install chromium) to run the browser test")
    pytest.importorskip(
        "playwright.sync_api", reason="the browser test drives chromium with playwright: pip install -e '.[test]'"
    )
    scratch = tmp_path_factory.mktemp("serve-browser")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in OFFLINE_ENV.items():
            mp.setenv(key, value)
        mp.setenv("GRADIO_TEMP_DIR", str(scratch / "gradio"))
        pytest.importorskip("gradio", reason="the page needs Gradio: pip install -e '.[serve]'")
        service = Service(restorer, Limits(), scratch / "downloads")
        service.warm_up()
        url, stop = serve_in_thread(service, scratch)
        try:
            yield url, service, scratch
        finally:
            stop()


def test_upload_shows_the_animation_at_1280x720(page_url, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, service, scratch = page_url
    photo = tmp_path / "blurred.png"
    shutil.copy(bundled_example(), photo)
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(url + "/", wait_until="networkidle")
            runs = len(service.runs)
            start = time.monotonic()
            page.locator("input[type=file]").set_input_files(str(photo))
            viewer = page.locator(".b2v-viewer[data-started]")
            viewer.wait_for(timeout=300_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.b2v-frame')].every(i => i.complete && i.naturalWidth > 0)",
                timeout=60_000,
            )
            shown = time.monotonic() - start
            restore = service.runs[-1][1] - service.runs[-1][0]
            print(f"\nupload to animation: {shown:.2f} s, of which Restorer.restore {restore:.2f} s")
            assert len(service.runs) == runs + 1

            frames = set()  # the animation plays: the frame shown changes by itself
            for _ in range(12):
                frames.add(viewer.get_attribute("data-frame"))
                page.wait_for_timeout(150)
            assert len(frames) >= 3 and viewer.get_attribute("data-playing") == "1"

            page.wait_for_function("() => document.querySelector('.b2v-motion').naturalWidth > 0", timeout=60_000)
            w, h = Image.open(photo).size
            assert f"Restored blurred.png ({w}x{h})" in page.locator(".b2v-done").inner_text()
            links = page.locator(".b2v-downloads a").evaluate_all("links => links.map(a => a.textContent)")
            assert links == ["blurred.gif", "blurred.mp4", "blurred_frames.zip", "motion.json", "motion.png"]
            assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 1280  # no sideways scrolling
            box = page.locator(".b2v-anim").bounding_box()
            assert box is not None and box["y"] + box["height"] <= 720  # the animation is on the first screen

            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot))
            if os.environ.get("BLUR2VIDEO_SCREENSHOT"):
                shutil.copy(shot, os.environ["BLUR2VIDEO_SCREENSHOT"])

            slider = page.locator(".b2v-slider")  # the slider picks a frame and pauses
            slider.evaluate("s => { s.value = '3'; s.dispatchEvent(new Event('input', { bubbles: true })); }")
            assert viewer.get_attribute("data-frame") == "3" and viewer.get_attribute("data-playing") == "0"
            assert page.locator(".b2v-label").inner_text() == "frame 3 (middle)"
            page.wait_for_timeout(400)
            assert viewer.get_attribute("data-frame") == "3"

            with page.expect_download() as download:
                page.locator(".b2v-downloads a", has_text="blurred.gif").click()
            assert download.value.suggested_filename == "blurred.gif"
            assert Path(download.value.path()).read_bytes()[:6] == b"GIF89a"
        finally:
            browser.close()
    origin = url + "/"
    assert [u for u in requested if not u.startswith((origin, "data:", "blob:"))] == []
    assert files_under(scratch) == []
