"""``blur2video restore`` as a user runs it, 1280x720: where the time goes (start-up, load, network,
writing) and what writing costs against the network it should keep up with, this tree against an
earlier one (``--before``) measured in the same run.

    python benchmarks/restore_cli.py [--before /tmp/before/src] [--photos 3] [--repeats 2]

``--before`` is another source tree (``git archive main src | tar -x -C /tmp/before``, then
``--before /tmp/before/src``); a tree from before 2026-12-02 runs its optional C kernels where
``python setup.py build_ext --inplace`` built them there. Three tables:

- writing alone: the same restored video (one network pass, saved) written by each tree's
  ``write_outputs`` in a fresh process, cold (its imports included) and warm, with the GIF's
  fidelity to the PNG frames (PSNR) and whether motion.png and the frames read back the same;
- the whole command on one photo and on ``--photos`` photos, in fresh processes, interleaved;
- this tree's own ``--verbose`` split of the whole command.

Wall and CPU seconds (user + system of the process and its children) are both given: on a
shared machine the CPU seconds move less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
THIS = str(HERE.parent / "src")
REAL = HERE.parents[1] / "shared" / "data" / "real_blur" / "blurred"

# Run in a child with PYTHONPATH set to one tree: restore once and save the video (argv: photo, npz).
RESTORE_ONCE = """
import sys, time, numpy as np
from blur2video import Restorer
restorer = Restorer.from_pretrained("cpu")
video = restorer.restore(sys.argv[1])
started = time.perf_counter()
video = restorer.restore(sys.argv[1])
network = time.perf_counter() - started
m = video.motion
np.savez(sys.argv[2], frames=video.frames, blur=video.blur, affines=m.affines, flow=m.flow,
         local_mean=m.local_mean, local_max=m.local_max, network=network)
"""

# Run in a child with PYTHONPATH set to one tree: write a saved video twice (argv: npz, out folder).
WRITE_TWICE = """
import json, resource, sys, time, numpy as np
from blur2video.outputs import write_outputs

def cpu():  # this process and its children (ffmpeg)
    return sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))

from blur2video.restore import Motion, RestoredVideo
d = np.load(sys.argv[1])
motion = Motion(d["affines"], d["flow"], d["local_mean"], d["local_max"])
video = RestoredVideo(frames=d["frames"], motion=motion, blur=d["blur"])
seconds = []
for name in ("cold", "warm"):
    wall, started = time.perf_counter(), cpu()
    write_outputs(video, sys.argv[2], name)
    seconds.append([time.perf_counter() - wall, cpu() - started])
print(json.dumps(seconds))
"""


def _photos(folder: Path, count: int) -> list[Path]:
    """``count`` 1280x720 blurred photos: the real GoPro ones of ../shared/data when present, else
    scikit-image's astronaut blurred by a horizontal box."""
    folder.mkdir(parents=True, exist_ok=True)
    real = sorted(REAL.glob("*.png")) if REAL.is_dir() else []
    paths = []
    for k in range(count):
        path = folder / f"photo{k}.png"
        if real:
            shutil.copy(real[k % len(real)], path)
        else:
            import skimage.data
            from skimage.transform import resize

            sharp = resize(skimage.data.astronaut(), (720, 1280))
            blurred = np.mean([np.roll(sharp, s + k, axis=1) for s in range(0, 12, 2)], axis=0)
            Image.fromarray((blurred * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def _timed(cmd: list[str], tree: str) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall, CPU) seconds of one command in a fresh process with ``tree`` on its path."""
    env = {**os.environ, "PYTHONPATH": tree}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), done


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _gif_psnr(folder: Path, name: str) -> float:
    """Mean PSNR of the GIF's frames against the PNG frames beside it."""
    gif = Image.open(folder / f"{name}.gif")
    values = []
    for j in range(gif.n_frames):
        gif.seek(j)
        values.append(_psnr(np.asarray(gif.convert("RGB")), np.asarray(Image.open(folder / f"frame_{j}.png"))))
    return float(np.mean(values))


def _same_pixels(a: Path, b: Path) -> bool:
    return np.array_equal(np.asarray(Image.open(a).convert("RGBA")), np.asarray(Image.open(b).convert("RGBA")))


def writing_table(photo: Path, trees: dict[str, str], tmp: Path) -> float:
    """The writing of one restored video by each tree; returns the network seconds it is set against."""
    saved = tmp / "video.npz"
    _timed([sys.executable, "-c", RESTORE_ONCE, str(photo), str(saved)], THIS)
    network = float(np.load(saved)["network"])
    print(f"network pass of {photo.name} (this tree, warm, in process): {network:.2f} s")
    print()
    print(
        "| writer (7 frames, 1280x720: PNGs, GIF, MP4, sheet, motion) | cold wall s | warm wall s | warm CPU s "
        "| warm wall / network | GIF PSNR vs frames (dB) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    outs = {}
    for label, tree in trees.items():
        out = tmp / f"written-{len(outs)}"
        _, _, done = _timed([sys.executable, "-c", WRITE_TWICE, str(saved), str(out)], tree)
        (cold, _), (warm, warm_cpu) = json.loads(done.stdout)
        outs[label] = out / "warm"
        print(
            f"| {label} | {cold:.2f} | {warm:.2f} | {warm_cpu:.2f} | {warm / network:.2f} "
            f"| {_gif_psnr(out / 'warm', 'warm'):.2f} |"
        )
    if len(outs) == 2:
        a, b = outs.values()
        frames = all(_same_pixels(a / f"frame_{j}.png", b / f"frame_{j}.png") for j in range(7))
        print()
        print(
            f"frames read back the same: {frames}; sheet.png: {_same_pixels(a / 'sheet.png', b / 'sheet.png')}; "
            f"motion.png: {_same_pixels(a / 'motion.png', b / 'motion.png')}; PNG bytes: "
            f"{sum((a / f'frame_{j}.png').stat().st_size for j in range(7)) / 1e6:.2f} MB against "
            f"{sum((b / f'frame_{j}.png').stat().st_size for j in range(7)) / 1e6:.2f} MB"
        )
    print()
    return network


def command_table(photos: list[Path], trees: dict[str, str], tmp: Path, repeats: int) -> None:
    """The whole command on one photo and on all, each tree in fresh processes, interleaved."""
    print("| command (1280x720, bundled model, default outputs) | wall s | CPU s |")
    print("|---|---:|---:|")
    runs: dict[str, list[tuple[float, float]]] = {}
    for k in range(repeats):
        for count in (1, len(photos)):
            for t, (label, tree) in enumerate(trees.items()):
                out = tmp / f"cmd-{k}-{count}-{t}"
                cmd = [sys.executable, "-m", "blur2video", "restore", *map(str, photos[:count]), "--out", str(out)]
                wall, cpu, _ = _timed(cmd, tree)
                runs.setdefault(f"restore of {count} photo(s), {label}", []).append((wall, cpu))
    for name, values in runs.items():
        walls, cpus = [v[0] for v in values], [v[1] for v in values]
        print(f"| {name} | {min(walls):.2f}-{max(walls):.2f} | {min(cpus):.2f}-{max(cpus):.2f} |")
    print()


def verbose_split(photos: list[Path], tmp: Path) -> None:
    for count in (1, len(photos)):
        cmd = [
            sys.executable,
            "-m",
            "blur2video",
            "restore",
            *map(str, photos[:count]),
            "--out",
            str(tmp / f"v{count}"),
        ]
        _, _, done = _timed([*cmd, "--verbose"], THIS)
        print(f"this tree, `restore --verbose` of {count} photo(s):")
        print("")
        for line in done.stderr.splitlines():
            if line.startswith("blur2video: time: "):
                print(f"    {line}")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="another blur2video source tree (its src/) measured in the same run")
    parser.add_argument("--photos", type=int, default=3, help="photos for the several-photo rows")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each whole command, interleaved")
    parser.add_argument(
        "--tables", nargs="+", choices=["writing", "command", "verbose"], default=["writing", "command", "verbose"]
    )
    args = parser.parse_args()
    trees = {"this tree": THIS}
    if args.before:
        trees[args.before] = args.before
    print(
        f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"photos: {'real GoPro' if REAL.is_dir() else 'synthetic'}"
    )
    print()
    tmp = Path(tempfile.mkdtemp())
    try:
        photos = _photos(tmp / "in", args.photos)
        if "writing" in args.tables:
            writing_table(photos[0], trees, tmp)
        if "command" in args.tables:
            command_table(photos, trees, tmp, args.repeats)
        if "verbose" in args.tables:
            verbose_split(photos, tmp)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
