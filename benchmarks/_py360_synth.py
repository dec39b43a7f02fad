"""The peer of ``blur2video synth rotation`` as a whole command: the same samples made with
py360convert, as a user without blur2video would write it. It imports no torch and no blur2video.

    python benchmarks/_py360_synth.py SOURCE_PNG DATASET OUT

It renders the very views of a DATASET that ``blur2video synth rotation`` wrote (each sample's
first view, rotation and render count from its index.jsonl), one ``py360convert.e2p`` call per
render from the source panorama as given, averages them in float32 and writes the blur and the N
frames as PNG with Pillow at compress level 1 (what blur2video wrote before it had its own PNG
writer), one folder and one index line per sample.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import py360convert
from PIL import Image
from scipy.spatial.transform import Rotation, Slerp


def orientations(meta: dict) -> Rotation:
    """The sample's renders: Slerp from its first view through its rotation (synth/rotation.py)."""
    start = Rotation.from_quat(meta["view"]["quat_xyzw"])
    motion = Rotation.from_rotvec(np.radians(meta["angle_deg"]) * np.asarray(meta["axis"]))
    ends = Rotation.concatenate([start, start * motion])
    return Slerp([0.0, 1.0], ends)(np.linspace(0.0, 1.0, meta["n_renders"]))


def main() -> None:
    source, dataset, out = (Path(a) for a in sys.argv[1:4])
    equi = np.asarray(Image.open(source).convert("RGB"), dtype=np.float32) / 255.0
    settings = json.loads((dataset / "dataset.json").read_text())
    size, fov = settings["size"], settings["fov_deg"]
    # py360convert puts the outermost pixel centres (not edges) at +-tan(fov/2): the same views as ours
    fov_peer = math.degrees(2 * math.atan(math.tan(math.radians(fov) / 2) * (size - 1) / size))
    (out / "samples").mkdir(parents=True, exist_ok=True)
    with open(out / "index.jsonl", "w") as index:
        for line in (dataset / "index.jsonl").read_text().splitlines():
            record = json.loads(line)
            meta = record["meta"]
            renders = np.stack(
                [
                    py360convert.e2p(equi, fov_peer, yaw, pitch, (size, size), in_rot_deg=roll)
                    for yaw, pitch, roll in orientations(meta).as_euler("YXZ", degrees=True)
                ]
            )
            folder = out / "samples" / record["id"]
            folder.mkdir(exist_ok=True)
            images = [renders.mean(0), *renders[:: meta["render_step"]]]
            for name, image in zip(["blur", *(f"frame_{j}" for j in range(len(images) - 1))], images, strict=True):
                pixels = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}.png", compress_level=1)
            index.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
