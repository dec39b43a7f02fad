"""``blur2video serve``: the main job as a local web page (Gradio, listening on 127.0.0.1).

One process loads the model once; restores run one at a time (Gradio's queue with concurrency 1,
and a lock behind it), since two at once on a 2-core machine only make each slower. Nothing stays
on disk: Gradio's uploads go to a private folder and each is deleted once the response is made,
results live in memory (the last ``KEEP``), and a download is written by outputs.py's writers into
a temporary folder, read back and deleted. What the page needs at once (the frames as JPEG, the
motion table) takes a fraction of a second; the GIF, MP4, frames' zip and motion picture are made
when first asked for (at 1280x720 writing them all took 40% of the restore's own time).

Gradio is an optional extra (``pip install 'blur2video[serve]'``) imported only here, and only
when the page is built: ``Service`` (checks, restore, results) works without it.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from PIL import Image

from .errors import Blur2VideoError
from .fileio import write_png
from .motion_picture import write_motion_png
from .outputs import motion_summary, output_name, write_gif, write_mp4
from .restore import Motion, RestoredVideo, Restorer, bundled_example
from .tiling import tile_starts

PIP = "pip install 'blur2video[serve]'"
TILE_PIXELS = 1280 * 736  # restore's default: above it a photo is restored in tiles
OVERLAP = 96  # restore's default tile overlap
KEEP = 3  # results kept in memory for their downloads (a 720p result holds ~75 MB)
KEEP_BYTES = 2 << 30  # ... and fewer when they are large (a 16 MP result holds ~1.3 GB); the newest always
PREVIEW_SIDE = 1600  # the page shows frames at most this long; downloads are full size
FPS = 8.0
ROUTE = "/b2v"  # results and downloads, served from memory
# Gradio phones home (usage analytics, a version check) and Hugging Face's hub client sends
# telemetry unless told not to: the page must work, and stay silent, with no network at all.
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


@dataclass(frozen=True)
class Limits:
    """What the page accepts: a refused file gets one line naming the limit and the fix."""

    max_file_mb: float = 50.0
    max_megapixels: float = 16.0
    tile_pixels: int = TILE_PIXELS


@dataclass
class Result:
    """One restored photo as the page and its downloads need it, held in memory."""

    token: str
    name: str  # the output name downloads are called after (outputs.output_name)
    size: tuple[int, int]  # (width, height)
    seconds: float  # Restorer.restore's time
    tiles: int
    notes: list[str]
    frames: np.ndarray  # (N, H, W, 3) uint8
    motion: Motion  # restore's own, for motion.json, the motion picture and the page's table
    files: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def downloads(self) -> list[str]:
        return [f"{self.name}.gif", f"{self.name}.mp4", f"{self.name}_frames.zip", "motion.json", "motion.png"]

    def nbytes(self) -> int:
        return self.frames.nbytes + self.motion.flow.nbytes + sum(len(data) for data in self.files.values())

    def video(self) -> RestoredVideo:
        """What outputs.py's writers take (the motion is all that motion.json and motion.png read)."""
        return RestoredVideo(frames=self.frames, motion=self.motion, blur=self.frames[len(self.frames) // 2])


def plan(width: int, height: int, tile_pixels: int = TILE_PIXELS, overlap: int = OVERLAP) -> tuple[int, int]:
    """(tiles, pixels the network processes) for a photo, cut as ``Restorer.restore`` cuts it, so
    the page can say how long a large photo will take before it starts. Restore widens the overlap
    where the global motion exceeds 24 pixels (tiling.py), which is not known beforehand: then
    this is an estimate."""
    if width * height <= tile_pixels:
        return 1, width * height
    tile = max(2 * overlap + 32, int(math.sqrt(tile_pixels)) // 32 * 32)
    th, tw = min(tile, height), min(tile, width)
    count = len(tile_starts(height, th, overlap)) * len(tile_starts(width, tw, overlap))
    scale = min(1.0, math.sqrt(tile_pixels / (width * height)))  # the global motion's pass on a scaled copy
    return count, count * th * tw + round(height * scale) * round(width * scale)


def header_size(path: Path, shown: str) -> tuple[int, int]:
    """(width, height) from the header alone, so a huge photo is refused before it is decoded."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            try:  # EXIF sits in the header of these formats (a PNG's may follow the pixels)
                orientation = img.getexif().get(0x0112, 1) if img.format in ("JPEG", "TIFF", "WEBP") else 1
            except Exception:  # a broken EXIF block: read_image decides what to make of it
                orientation = 1
    except Image.DecompressionBombError:
        raise Blur2VideoError(f"{shown}: has more pixels than an image decoder accepts; scale it down first") from None
    except Exception:  # any decoder failure on the header: not an image this page can read
        raise Blur2VideoError(f"{shown}: not an image; give a PNG, JPEG or TIFF photo") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _megapixels(width: int, height: int) -> str:
    return f"{width * height / 1e6:.3g} MP"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _jpeg(image: np.ndarray, side: int = PREVIEW_SIDE) -> bytes:
    pic = Image.fromarray(image)
    if max(pic.size) > side:
        pic.thumbnail((side, side), Image.BILINEAR)
    buffer = io.BytesIO()
    pic.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class Service:
    """The model, loaded once, behind a lock, with the last ``keep`` results in memory."""

    def __init__(self, restorer: Restorer, limits: Limits = Limits(), scratch: Path | None = None, keep: int = KEEP):
        self.restorer, self.limits, self.keep = restorer, limits, keep
        self.scratch = scratch  # where downloads are written before they are read back (None: the system's)
        self.results: OrderedDict[str, Result] = OrderedDict()
        self.rate: float | None = None  # seconds per pixel the network processes, from the last restore
        # One thread restores and one makes downloads, for the service's whole life: restores run
        # one at a time whoever calls, and the allocator keeps one pool of freed memory per thread
        # (blur2video.runtime keeps what it frees) instead of one per short-lived or pooled thread,
        # which let resident memory climb in steps over the first dozen uploads.
        self._restoring = ThreadPoolExecutor(1, thread_name_prefix="blur2video-restore")
        self._making = ThreadPoolExecutor(1, thread_name_prefix="blur2video-download")
        self._store = threading.Lock()
        self.runs: list[tuple[float, float]] = []  # (start, end) of each restore, in time.monotonic()

    def warm_up(self) -> None:
        """Restore the bundled example and make its downloads once: the first of each pays one-off
        costs (imports, allocations) that would otherwise land on the first user, and the restore's
        time gives the first estimate of how long a photo takes."""
        result = self.restore(bundled_example(), "example")
        for name in result.downloads():
            self.file(result.token, name)
        with self._store:
            self.results.pop(result.token, None)

    def check(self, path: Path, shown: str) -> tuple[int, int]:
        """Refuse, with one line, a file the page will not restore; (width, height) otherwise."""
        size = path.stat().st_size if path.is_file() else None
        if size is None:
            raise Blur2VideoError(f"{shown}: no such file")
        if size == 0:
            raise Blur2VideoError(f"{shown}: file is empty (0 bytes); give a photo")
        if size > self.limits.max_file_mb * 1e6:
            raise Blur2VideoError(
                f"{shown}: {size / 1e6:.1f} MB is over this page's limit of {self.limits.max_file_mb:g} MB; "
                "save it smaller (JPEG) or use the blur2video restore command"
            )
        width, height = header_size(path, shown)
        if width * height > self.limits.max_megapixels * 1e6:
            raise Blur2VideoError(
                f"{shown}: {width}x{height} is {_megapixels(width, height)}, over this page's limit of "
                f"{self.limits.max_megapixels:g} MP; scale it down or use the blur2video restore command"
            )
        return width, height

    def describe(self, width: int, height: int) -> str:
        """What a restore of this size will do and how long it should take, for the page."""
        tiles, pixels = plan(width, height, self.limits.tile_pixels)
        how = "in one pass" if tiles == 1 else f"in {tiles} overlapping tiles, as restore does"
        when = "" if self.rate is None else f", about {_duration(self.rate * pixels)}"
        return f"{width}x{height} ({_megapixels(width, height)}) {how}{when}"

    def estimate(self, width: int, height: int) -> float | None:
        return None if self.rate is None else self.rate * plan(width, height, self.limits.tile_pixels)[1]

    def submit(self, path: Path, shown: str) -> Future[Result]:
        """Queue one photo on the restore thread; the future raises what :meth:`restore` raises."""
        return self._restoring.submit(self._restore, path, shown)

    def restore(self, path: Path, shown: str) -> Result:
        """Check, restore and keep one photo; Blur2VideoError (one line, naming ``shown`` rather
        than the temporary file) for anything the page refuses or cannot read."""
        return self.submit(path, shown).result()

    def close(self) -> None:
        """Let queued work finish and stop the service's two threads."""
        self._restoring.shutdown()
        self._making.shutdown()

    def _restore(self, path: Path, shown: str) -> Result:
        width, height = self.check(path, shown)
        tiles, pixels = plan(width, height, self.limits.tile_pixels)
        notes: list[str] = []
        start = time.monotonic()
        try:
            video = self.restorer.restore(path, max_pixels=self.limits.tile_pixels, notes=notes)
        except Blur2VideoError as exc:
            raise Blur2VideoError(str(exc).replace(str(path), shown)) from None
        end = time.monotonic()
        self.runs = [*self.runs[-99:], (start, end)]
        if self.rate is None or pixels >= 100_000:  # small photos are mostly fixed costs
            self.rate = (end - start) / pixels
        return self._keep(video, shown, tiles, end - start, [n.replace(str(path), shown) for n in notes])

    def _keep(self, video: RestoredVideo, shown: str, tiles: int, seconds: float, notes: list[str]) -> Result:
        frames = video.frames_uint8()
        result = Result(
            token=secrets.token_urlsafe(12),
            name=output_name(shown),
            size=(frames.shape[2], frames.shape[1]),
            seconds=seconds,
            tiles=tiles,
            notes=notes,
            frames=frames,
            motion=video.motion,
        )
        result.files["input.jpg"] = _jpeg(np.clip(np.rint(video.blur * 255), 0, 255).astype(np.uint8))
        for j, frame in enumerate(frames):
            result.files[f"frame_{j}.jpg"] = _jpeg(frame)
        with self._store:
            self.results[result.token] = result
            while len(self.results) > self.keep or (
                len(self.results) > 1 and sum(r.nbytes() for r in self.results.values()) > KEEP_BYTES
            ):
                self.results.popitem(last=False)
        return result

    def file(self, token: str, name: str) -> bytes | None:
        """A result's file by name, made on first request; None when unknown (or no longer kept)."""
        with self._store:
            result = self.results.get(token)
        if result is None or (name not in result.files and name not in result.downloads()):
            return None
        with result.lock:
            if name not in result.files:
                result.files[name] = self._making.submit(self._make, result, name).result()
            return result.files[name]

    def _make(self, result: Result, name: str) -> bytes:
        """One download, written by outputs.py's writers into a temporary folder that is deleted
        before the bytes are served."""
        if self.scratch is not None:
            self.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="blur2video-serve-", dir=self.scratch) as folder:
            path = Path(folder) / name
            if name.endswith(".gif"):
                write_gif(path, result.frames, FPS, False)
            elif name.endswith(".mp4"):
                write_mp4(path, result.frames, FPS, False)
            elif name == "motion.png":
                video = result.video()
                write_motion_png(path, video.motion.flow, video.motion.affines)
            elif name == "motion.json":  # as restore writes it
                path.write_text(json.dumps(motion_summary(result.video()), indent=1))
            else:  # the frames as restore writes them, in a zip (PNG is compressed already: stored)
                with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
                    for j, frame in enumerate(result.frames):
                        write_png(Path(folder) / f"frame_{j}.png", frame)
                        archive.write(Path(folder) / f"frame_{j}.png", f"frame_{j}.png")
            return path.read_bytes()


MEDIA = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".mp4": "video/mp4"}
MEDIA |= {".json": "application/json", ".zip": "application/zip"}

INTRO = """\
<div class="b2v-idle">Drop a motion-blurred photo on the box on the left (or pick the bundled
example): the page shows the short sharp video hidden in it, the motion of each frame, and
downloads (frames, GIF, MP4, motion.json).</div>"""

# The animation runs in the browser: one <img> per frame, shown in turn; the slider picks a frame
# and pauses. Gradio's HTML component does not run scripts in its value, so this script lives in
# the page's head and finds viewers as they appear.
HEAD = """<script>
(() => {
  const timers = new Map();
  const show = (v, k) => {
    const frames = v.querySelectorAll(".b2v-frame"), n = frames.length;
    frames.forEach((f, j) => f.classList.toggle("b2v-on", j === k));
    v.dataset.frame = String(k);
    v.querySelector(".b2v-slider").value = String(k);
    v.querySelector(".b2v-label").textContent = `frame ${k}` + (k === (n - 1) / 2 ? " (middle)" : "");
  };
  const stop = (v) => {
    clearInterval(timers.get(v));
    timers.delete(v);
    v.dataset.playing = "0";
    v.querySelector(".b2v-play").textContent = "Play";
  };
  const play = (v) => {
    stop(v);
    const n = v.querySelectorAll(".b2v-frame").length;
    timers.set(v, setInterval(() => {
      if (!v.isConnected) return stop(v);
      show(v, (Number(v.dataset.frame) + 1) % n);
    }, 1000 / Number(v.dataset.fps)));
    v.dataset.playing = "1";
    v.querySelector(".b2v-play").textContent = "Pause";
  };
  document.addEventListener("input", (e) => {
    const s = e.target.closest && e.target.closest(".b2v-slider");
    if (s) { const v = s.closest(".b2v-viewer"); stop(v); show(v, Number(s.value)); }
  });
  document.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest(".b2v-play");
    if (b) { const v = b.closest(".b2v-viewer"); timers.has(v) ? stop(v) : play(v); }
  });
  new MutationObserver(() => {
    document.querySelectorAll(".b2v-viewer:not([data-started])").forEach((v) => {
      v.dataset.started = "1";
      show(v, 0);
      play(v);
      // the motion picture is made when first asked for: ask once the frames are on screen
      const frames = [...v.querySelectorAll(".b2v-frame")].map((f) => f.decode().catch(() => null));
      Promise.all(frames).then(() => v.querySelectorAll("img[data-src]").forEach((i) => { i.src = i.dataset.src; }));
    });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
</script>"""

CSS = """
.b2v-top { display: flex; gap: 12px; align-items: flex-start; }
.b2v-main { flex: 1; min-width: 0; }
.b2v-anim { display: grid; }
.b2v-anim img { grid-area: 1 / 1; width: 100%; height: 50vh; object-fit: contain; visibility: hidden; }
.b2v-anim img.b2v-on { visibility: visible; }
.b2v-controls { display: flex; gap: 8px; align-items: center; margin-top: 4px; }
.b2v-controls input { flex: 1; }
.b2v-play { min-width: 4.5em; padding: 2px 8px; border: 1px solid #999; border-radius: 4px; }
.b2v-pair { display: flex; flex-direction: column; gap: 6px; }
.b2v-pair figure { margin: 0; }
.b2v-pair img { width: 240px; height: 23vh; object-fit: contain; }
.b2v-pair figcaption, .b2v-note { font-size: 85%; color: #666; }
.b2v-motion { max-width: 100%; margin-top: 8px; }
.b2v-table { font-size: 85%; border-collapse: collapse; }
.b2v-table td, .b2v-table th { padding: 1px 8px; text-align: right; border-bottom: 1px solid #ddd; }
.b2v-downloads a { margin-right: 14px; }
.b2v-error { color: #b00020; font-weight: 600; }
"""


def _motion_rows(result: Result) -> str:
    """Per frame, how the middle frame's content moved (the centre's shift, rotation, zoom: from
    the fitted affine) and the size of the local, non-affine motion; cheap, unlike motion.json's
    per-pixel statistics, so the page shows it at once."""
    w, h = result.size
    centre = np.array([w / 2, h / 2, 1.0])
    confidence = result.motion.confidence
    rows = []
    for j, a in enumerate(result.motion.affines.astype(float)):
        dx, dy = a @ centre - centre[:2]
        angle = math.degrees(math.atan2(a[1, 0], a[0, 0]))
        zoom = math.sqrt(abs(a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]))
        conf = "" if confidence is None else f"<td>{confidence[j]:.2f}</td>"
        rows.append(
            f"<tr><td>{j}</td><td>{dx:+.1f}</td><td>{dy:+.1f}</td><td>{angle:+.2f}</td><td>{zoom:.3f}</td>"
            f"<td>{result.motion.local_mean[j]:.2f}</td>{conf}</tr>"
        )
    conf_head = "" if confidence is None else "<th>confidence</th>"
    return (
        '<table class="b2v-table"><tr><th>frame</th><th>centre dx px</th><th>dy px</th><th>rotation °</th>'
        f"<th>zoom</th><th>local motion px</th>{conf_head}</tr>{''.join(rows)}</table>"
    )


def viewer_html(result: Result) -> str:
    """The result on the page: the animation with its slider, the input beside the middle frame,
    the motion picture and table, and the downloads."""
    base = f"{ROUTE}/{result.token}"
    n = len(result.frames)
    frames = "".join(
        f'<img class="b2v-frame{" b2v-on" if j == 0 else ""}" src="{base}/frame_{j}.jpg" alt="frame {j}">'
        for j in range(n)
    )
    links = "".join(
        f'<a href="{base}/{html.escape(quote(d))}" download>{html.escape(d)}</a>' for d in result.downloads()
    )
    w, h = result.size
    return f"""<div class="b2v-viewer" data-token="{result.token}" data-fps="{FPS:g}" data-frames="{n}">
<div class="b2v-top">
 <div class="b2v-main"><div class="b2v-anim">{frames}</div>
  <div class="b2v-controls"><button class="b2v-play" type="button">Pause</button>
   <input class="b2v-slider" type="range" min="0" max="{n - 1}" step="1" value="0" aria-label="frame">
   <span class="b2v-label">frame 0</span></div></div>
 <div class="b2v-pair">
  <figure><img src="{base}/input.jpg" alt="input"><figcaption>input ({w}x{h})</figcaption></figure>
  <figure><img src="{base}/frame_{n // 2}.jpg" alt="middle frame"><figcaption>middle frame</figcaption></figure>
 </div>
</div>
<div class="b2v-downloads">Download: {links}</div>
<details open><summary>Motion of each frame relative to the middle frame</summary>
{_motion_rows(result)}
<img class="b2v-motion" data-src="{base}/motion.png" alt="motion picture">
</details></div>"""


def status_html(
    kind: str, text: str, notes: list[str] = (), done: float | None = None, total: float | None = None
) -> str:
    """The status box: a message, a progress bar while a restore runs, an error in one line."""
    bar = ""
    if kind == "running":  # without an estimate the bar only says that work goes on
        value = f' value="{min(done or 0.0, 0.97 * total):.1f}" max="{total:.1f}"' if total else ""
        bar = f'<progress style="width:100%"{value}></progress>'
    body = f'<div class="b2v-{kind}">{html.escape(text)}</div>' + "".join(
        f'<div class="b2v-note">note: {html.escape(n)}</div>' for n in notes
    )
    return body + bar


def _gradio() -> Any:
    """Gradio, told to stay offline, or one line naming the pip command that installs it."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import gradio
    except ImportError:
        raise Blur2VideoError(f"the web page needs Gradio, an optional extra: {PIP}") from None
    return gradio


def run_restore(service: Service, path: Path, shown: str, delete: bool) -> Iterator[tuple[str, str]]:
    """Restore one photo for the page: (status, viewer) while it runs, then the result; errors
    end as one line in the status, never a traceback. ``delete``: the path is Gradio's copy of an
    upload, removed once it has been read (nothing stays on disk)."""
    try:
        try:
            width, height = service.check(path, shown)
        except Blur2VideoError as exc:
            yield status_html("error", str(exc)), ""
            return
        what = f"Restoring {shown}: {service.describe(width, height)}"
        total = service.estimate(width, height)
        yield status_html("running", what + "...", total=total, done=0.0), ""
        start, job = time.monotonic(), service.submit(path, shown)
        while True:
            try:
                result = job.result(timeout=2.0)  # the status every 2 s: each update costs the page a render
                break
            except FutureTimeout:
                elapsed = time.monotonic() - start
                yield status_html("running", f"{what}... {_duration(elapsed)} so far", total=total, done=elapsed), ""
            except Blur2VideoError as exc:
                yield status_html("error", str(exc)), ""
                return
            except Exception as exc:  # a bug must not reach the page as a traceback: the log has it
                traceback.print_exception(exc)
                why = f"{shown}: internal error ({type(exc).__name__}); the server's log has the details"
                yield status_html("error", why), ""
                return
        done = f"Restored {shown} ({result.size[0]}x{result.size[1]}) in {_duration(result.seconds)}"
        done += "" if result.tiles == 1 else f", {result.tiles} tiles"
        yield status_html("done", done, result.notes), viewer_html(result)
    finally:
        if delete:
            _remove_upload(path)


def _remove_upload(path: Path) -> None:
    """Delete Gradio's copy of an upload and the folder Gradio made for it, when that is empty."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass


def build_app(service: Service, scratch: Path) -> Any:
    """The page and its routes as an ASGI app: Gradio's Blocks mounted on a FastAPI app that also
    serves results and downloads from memory. Gradio's uploads go to ``scratch``/gradio."""
    gr = _gradio()
    import fastapi
    from fastapi.responses import Response

    os.environ["GRADIO_TEMP_DIR"] = str(scratch / "gradio")  # read when the Blocks and the app are made
    limits = service.limits
    with gr.Blocks(title="blur2video", analytics_enabled=False) as blocks:
        gr.Markdown("## blur2video: the sharp video hidden in a blurred photo")
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                photo = gr.File(label="Blurred photo", file_types=["image"], type="filepath", height=140)
                example = gr.Button("Restore the bundled example", size="sm")
                status = gr.HTML(INTRO)
                gr.Markdown(
                    f"Limits: {limits.max_file_mb:g} MB, {limits.max_megapixels:g} megapixels; photos above "
                    f"{limits.tile_pixels / 1e6:.1f} MP are restored in tiles. One photo at a time: others wait.",
                    elem_classes=["b2v-note"],
                )
            with gr.Column(scale=3):
                viewer = gr.HTML("")

        uploads = Path(os.environ["GRADIO_TEMP_DIR"]).resolve()

        def on_photo(upload: dict | None) -> Iterator[tuple[str, str, Any]]:
            # Unprocessed (preprocess=False): gr.File's own step leaves an empty temporary file
            # behind per upload (gradio 6.31), and the raw payload keeps the name the user knows.
            # The box is emptied at once: its file is deleted once read, and it is ready for the next.
            if not upload:
                yield INTRO, "", gr.skip()
                return
            path = Path(upload["path"]).resolve()
            shown = Path(upload.get("orig_name") or path.name).name
            if not path.is_relative_to(uploads):  # the payload is the client's: only uploads are read
                yield status_html("error", f"{shown}: not an uploaded file; upload the photo"), "", None
                return
            for k, (state, view) in enumerate(run_restore(service, path, shown, delete=True)):
                yield state, view, None if k == 0 else gr.skip()

        def on_example() -> Iterator[tuple[str, str]]:
            yield from run_restore(service, bundled_example(), "the bundled example", delete=False)

        # Gradio's progress shows only as a small queue position and timer on the status box: its
        # full overlay animates for as long as a restore runs, and the browser's repaints then
        # take a core from the restore; the status box has its own (still) progress bar.
        shared = {"concurrency_limit": 1, "concurrency_id": "restore", "show_progress": "minimal"}
        photo.upload(
            on_photo,
            photo,
            [status, viewer, photo],
            api_name="restore",
            preprocess=False,
            show_progress_on=status,
            **shared,
        )
        example.click(on_example, None, [status, viewer], api_name="example", show_progress_on=status, **shared)

    app = fastapi.FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(ROUTE + "/{token}/{name}")
    def result_file(token: str, name: str) -> Response:
        data = service.file(token, name)
        if data is None:
            return Response("no such result (the page keeps only the last few): restore the photo again", 404)
        disposition = "inline" if name.endswith(".jpg") or name == "motion.png" else "attachment"
        headers = {"Content-Disposition": f'{disposition}; filename="{name}"', "Cache-Control": "no-store"}
        return Response(data, media_type=MEDIA.get(Path(name).suffix, "application/octet-stream"), headers=headers)

    blocks.queue(default_concurrency_limit=1)
    # Gradio's queue looks for work every 1 ms and for progress every 10 ms (2.7% of a core, all
    # the time: on 2 cores, taken from the restores); every 20 ms and 100 ms cost 0.3% and delay
    # a restore's start by at most 20 ms.
    queue = getattr(blocks, "_queue", None)
    if hasattr(queue, "sleep_when_free") and hasattr(queue, "progress_update_sleep_when_free"):
        queue.sleep_when_free, queue.progress_update_sleep_when_free = 0.02, 0.1
    mounted = gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        footer_links=[],
        run_history=False,
        show_error=True,
        max_file_size=int(limits.max_file_mb * 1e6),
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        enable_monitoring=False,
        css=CSS,
        head=HEAD,
    )
    # Gradio refuses API payloads naming files that were not uploaded only once its Blocks count
    # as launched, which launch() sets and mounting does not: without it any readable file would
    # be copied into the upload folder.
    blocks.has_launched = True
    return mounted


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the model loads so a taken port fails at once in one
    line; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise Blur2VideoError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); choose another --port"
        ) from None
    sock.listen(64)
    return sock


def serve_in_thread(service: Service, scratch: Path, host: str = "127.0.0.1", port: int = 0) -> tuple[str, Any]:
    """The page served from a background thread (tests, benchmarks): its URL and a function that
    stops it."""
    import uvicorn

    sock = listen(host, port)
    server = uvicorn.Server(uvicorn.Config(build_app(service, scratch), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("the page's server did not start")

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()

    return f"http://{host}:{sock.getsockname()[1]}", stop


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    checkpoint: str | None = None,
    limits: Limits = Limits(),
    device: str = "auto",
) -> int:
    """Load the model once, then serve the page until Ctrl-C; loopback only unless ``host`` says
    otherwise. The private folder for uploads and downloads is removed on the way out."""
    scratch = Path(tempfile.mkdtemp(prefix="blur2video-serve-"))
    try:
        # Gradio reads its folder when it is imported (and makes one there), so it is set first.
        os.environ["GRADIO_TEMP_DIR"] = str(scratch / "gradio")
        _gradio()
        import uvicorn

        sock = listen(host, port)
        try:
            restorer = Restorer.from_checkpoint(checkpoint, device) if checkpoint else Restorer.from_pretrained(device)
            service = Service(restorer, limits, scratch / "downloads")
            service.warm_up()
            app = build_app(service, scratch)
            bound = sock.getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            print(f"blur2video serve: http://{shown}:{bound}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
            try:
                uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
            except KeyboardInterrupt:  # uvicorn stops on Ctrl-C, then raises it again: here it is the way out
                pass
            service.close()
            print("blur2video serve: stopped", file=sys.stderr, flush=True)
        finally:
            sock.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0
