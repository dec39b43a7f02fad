"""The page's overhead over ``Restorer.restore``: one photo (default 1280x720) restored through
``blur2video serve`` by Gradio's client, and by a headless chromium where it is installed.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/serve.py [--width 1280 --height 720 --runs 3]

The overhead is what the user waits beyond the restore: from the upload to the restore's start,
plus from its end until what the page shows is in hand (API: the result and the frames and input
as JPEG, fetched as the page fetches them; browser: from chromium sending the photo, Playwright's
own hand-over of the file left out, until every frame of the animation is decoded). Each
part is printed as wall-clock seconds (on a shared core they swell with the other processes'
load) and as CPU seconds spent meanwhile by this process and every process it started
(Playwright's driver and chromium included), which a busy machine does not inflate and which
bounds the wall-clock overhead on an idle one. During the restore the page costs CPU too (the
queue, the status updates, the browser): printed as a share of a core.
"""

import argparse
import os
import re
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import skimage.data
from PIL import Image, ImageFilter


def _photo(path: Path, width: int, height: int) -> Path:
    """A real photo, scaled and blurred sideways (the content changes nothing in the timing)."""
    image = Image.fromarray(skimage.data.astronaut()).resize((width, height), Image.BICUBIC)
    image.filter(ImageFilter.BoxBlur(4)).save(path)
    return path


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from blur2video import Restorer
    from blur2video.serve import Limits, Service, _gradio, serve_in_thread

    _gradio()  # offline settings before Gradio's client is imported
    from gradio_client import Client, handle_file

    folder = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    photo = _photo(folder / "photo.png", args.width, args.height)
    restorer = Restorer.from_pretrained("cpu")
    marks: list[tuple[float, float, float, float, float]] = []  # per restore: wall and CPU at start and end, own CPU
    bare_restore = restorer.restore

    def restore(*args, **kwargs):
        start, cpu, own = time.perf_counter(), _tree_cpu(), time.thread_time()
        try:
            return bare_restore(*args, **kwargs)
        finally:
            marks.append((start, cpu, time.perf_counter(), _tree_cpu(), time.thread_time() - own))

    restorer.restore = restore
    service = Service(restorer, Limits(), folder / "scratch" / "downloads")
    service.warm_up()
    url, stop = serve_in_thread(service, folder / "scratch")
    try:
        for _ in range(args.runs):
            restorer.restore(photo)
        bare = [end - start for start, _, end, _, _ in marks[-args.runs :]]
        print(
            f"Restorer.restore {args.width}x{args.height}: wall {_list(bare)} s, "
            f"CPU of its thread {_list([m[4] for m in marks[-args.runs :]])} s"
        )

        client, api = Client(url + "/", verbose=False), []
        for _ in range(args.runs):
            start, cpu = time.perf_counter(), _tree_cpu()
            _, viewer, _ = client.predict(handle_file(str(photo)), api_name="/restore")
            token = re.search(r'data-token="([^"]+)"', viewer)[1]
            for name in ["input.jpg", *(f"frame_{j}.jpg" for j in range(restorer.frames))]:
                _fetch(f"{url}/b2v/{token}/{name}")
            api.append(((start, cpu), marks[-1], (time.perf_counter(), _tree_cpu())))
        _report("page through the API", api)

        chromium = shutil.which("chromium")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            sync_playwright = None
        if chromium is None or sync_playwright is None:
            print("browser: skipped (needs Debian's chromium and playwright)")
            return
        browser_runs = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(url + "/", wait_until="networkidle")
            sent: list[tuple[float, float]] = []  # when chromium starts sending a photo
            page.on("request", lambda q: sent.append((time.perf_counter(), _tree_cpu())) if "/upload?" in q.url else 0)
            for k in range(args.runs):
                shown = folder / f"photo{k}.png"
                shutil.copy(photo, shown)
                runs = len(service.runs)
                page.locator("input[type=file]").set_input_files(str(shown))
                page.locator(".b2v-viewer[data-started]").wait_for(timeout=1_200_000)  # no polling meanwhile
                page.wait_for_function(
                    "() => { const f = [...document.querySelectorAll('.b2v-viewer[data-started] .b2v-frame')];"
                    " return f.length > 0 && f.every(i => i.complete && i.naturalWidth > 0); }",
                    timeout=120_000,
                    polling=20,
                )
                browser_runs.append((sent[-1], marks[-1], (time.perf_counter(), _tree_cpu())))
                assert len(service.runs) == runs + 1
                page.evaluate("() => document.querySelector('.b2v-viewer').classList.remove('b2v-viewer')")
            browser.close()
        _report("page in chromium", browser_runs)
    finally:
        stop()
        shutil.rmtree(folder, ignore_errors=True)


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _tree_cpu() -> float:
    """CPU seconds spent so far by this process and every process it started (chromium too)."""
    tick, stats = os.sysconf("SC_CLK_TCK"), {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, total, grew = {os.getpid()}, 0.0, True
    while grew:
        grew = False
        for pid, (parent, _) in stats.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    for pid in tree:
        total += stats.get(pid, (0, 0.0))[1]
    return total


def _report(what: str, runs: list) -> None:
    """runs: ((wall, CPU) at the upload, the restore's marks, (wall, CPU) once shown) per page run."""
    before = [(r[0] - u[0], r[1] - u[1]) for u, r, _ in runs]
    after = [(s[0] - r[2], s[1] - r[3]) for _, r, s in runs]
    during = [(r[3] - r[1] - r[4]) / (r[2] - r[0]) for _, r, _ in runs]
    wall = [b[0] + a[0] for b, a in zip(before, after, strict=True)]
    cpu = [b[1] + a[1] for b, a in zip(before, after, strict=True)]
    print(
        f"{what}: restore {_list([r[2] - r[0] for _, r, _ in runs])} s; overhead wall {_list(wall)} s "
        f"(before the restore {_list([b[0] for b in before])}, after {_list([a[0] for a in after])}), "
        f"CPU {_list(cpu)} s (before {_list([b[1] for b in before])}, after {_list([a[1] for a in after])}); "
        f"during the restore the page took {_list([100 * d for d in during])} % of a core"
    )


if __name__ == "__main__":
    main()
