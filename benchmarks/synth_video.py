"""Video-blur synthesis speed from a 720p video, window 7: windows per second end to end and peak
memory; decoding cost apart from averaging cost; averaging throughput in GB/s against a plain
numpy copy of the same bytes measured in the same run.

    python benchmarks/synth_video.py [--frames 70]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _peak import best_of, peak_rss_mb


def make_video(path: Path, count: int, width: int = 1280, height: int = 720) -> None:
    """A 720p clip of a real photo panning 3 px per frame (H.264, high quality)."""
    import imageio.v2 as imageio
    import skimage.data
    from skimage.transform import resize

    base = (resize(skimage.data.astronaut(), (height, width + 3 * count)) * 255).astype(np.uint8)
    writer = imageio.get_writer(
        path, format="FFMPEG", fps=240, codec="libx264", quality=9, macro_block_size=1, ffmpeg_log_level="error"
    )
    for t in range(count):
        writer.append_data(np.ascontiguousarray(base[:, 3 * t : 3 * t + width]))
    writer.close()


def _end_to_end(video: str, out: str, queue) -> None:
    from blur2video.runtime import keep_freed_memory
    from blur2video.synth.api import synthesize_video
    from blur2video.synth.video import VideoSettings

    torch.set_num_threads(2)
    keep_freed_memory()
    t = time.perf_counter()
    _, written = synthesize_video(video, out, settings=VideoSettings(frames=7, size=256))
    queue.put((written / (time.perf_counter() - t), peak_rss_mb(), written))


def _averaging_times(stack: torch.Tensor, moved: int, copies: int) -> dict[str, float]:
    """Seconds per window for the averaging and for a numpy copy of the same bytes. ``copies``
    distinct buffers are used in turn: 1 keeps a 720p window (30 MB with its output) in this host's
    32 MB L3 cache, 8 make every call read from main memory."""
    from blur2video.synth.accumulate import accumulate

    stacks = [stack.clone() for _ in range(copies)]
    pairs = [(np.ones(moved // 4, np.float32), np.empty(moved // 4, np.float32)) for _ in range(copies)]

    def each(fn):
        return lambda: [fn(x) for x in stacks]

    times = {
        "average": best_of(each(accumulate), 20),
        "copy": best_of(lambda: [np.copyto(dst, src) for src, dst in pairs], 20),
    }
    return {key: seconds / copies for key, seconds in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=70)
    args = parser.parse_args()
    torch.set_num_threads(2)
    from blur2video.runtime import keep_freed_memory
    from blur2video.synth.clips import ClipReader, discover_clips

    keep_freed_memory()  # as the CLI does

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.mp4"
        make_video(video, args.frames)
        clip = discover_clips(video)[0][0]
        reader = ClipReader(clip)
        t = time.perf_counter()
        windows = [reader.window(s, 7) for s in range(0, clip.count - 6, 7)]
        decode = (time.perf_counter() - t) / len(windows)
        stack = torch.from_numpy(np.stack(windows[0])).permute(0, 3, 1, 2).contiguous()
        moved = stack.numel() * stack.element_size() + stack[0].numel() * 4  # read 7 frames (uint8), write one float32
        rows = {cache: _averaging_times(stack, moved, copies) for cache, copies in (("warm", 1), ("cold", 8))}
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_end_to_end, args=(str(video), str(Path(tmp) / "ds"), queue))
        proc.start()
        per_second, peak, written = queue.get()
        proc.join()
    print(f"720p H.264 clip of {args.frames} frames, window 7, 2 threads")
    print()
    print("| stage | ms / window | throughput | GB/s vs numpy copy | time vs numpy copy |")
    print("|---|---:|---:|---:|---:|")
    print(f"| decode 7 frames (imageio-ffmpeg, streamed) | {decode * 1e3:.1f} | {7 / decode:.0f} frames/s | | |")
    names = {
        "average": "average 7 frames (uint8, sRGB; torch in-place integer adds)",
        "copy": "numpy copy of the same bytes (read + write)",
    }
    for cache, times in rows.items():
        copy_rate = 2 * moved / times["copy"] / 1e9  # a copy reads and writes every byte
        for key, seconds in times.items():
            rate = (2 if key == "copy" else 1) * moved / seconds / 1e9
            print(
                f"| {names[key]}, {cache} cache | {seconds * 1e3:.2f} | {rate:.1f} GB/s | {rate / copy_rate:.2f}x "
                f"| {seconds / times['copy']:.2f}x |"
            )
    print()
    print("| end to end (decode, crop 256, average, PNG writes) | windows / s | peak RSS (MB) |")
    print("|---|---:|---:|")
    print(f"| {written} windows | {per_second:.1f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
