"""Inference engines, one run: the bundled model (preset small with the kernel-bank head, N = 7) on
one blurred photo at 1280x720 by eager torch, ``torch.compile``, ONNX Runtime and OpenVINO, with
wall and CPU seconds, the speed against eager torch, the largest difference from eager torch's frames, the first
call (compilation, and for the engines the ONNX export), peak memory and achieved GFLOP/s as a
fraction of this machine's fp32 matmul rate measured in the same run (see _peak.py).

    python benchmarks/inference.py [--width 1280 --height 720 --threads 2 --repeats 3]
                                   [--rows torch compile onnxruntime openvino] [--before SRC]

``--before SRC`` adds eager torch of another source tree (``git archive main src | tar -x -C
/tmp/before``, then ``--before /tmp/before/src``), e.g. one that still has the C kernels a
``python setup.py build_ext --inplace`` builds there. Every row runs in a fresh process (its own
peak memory, its own empty engine cache, so the first call includes the export) that keeps freed
memory as the command line does (blur2video.runtime), on ``--threads`` threads for torch and the
engines alike. The engines run the network; the kernel-bank head runs in torch after them
(blur2video.engines).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
THIS = str(HERE.parent / "src")
ROWS = {
    "torch": "eager torch",
    "before": "eager torch, --before tree",
    "compile": "torch.compile (whole model)",
    "onnxruntime": "ONNX Runtime",
    "openvino": "OpenVINO",
}


def blurred_photo(height: int, width: int) -> torch.Tensor:
    """The bundled blurred example scaled to height x width: real blur, so the kernel-bank head
    keeps as many filters as it would on a photo (random noise would make it keep others)."""
    from blur2video.fileio import read_image
    from blur2video.restore import bundled_example

    image = torch.from_numpy(read_image(bundled_example())).permute(2, 0, 1)[None]
    return torch.nn.functional.interpolate(image, size=(height, width), mode="bilinear", align_corners=False)


def measure(row: str, height: int, width: int, threads: int, repeats: int, out: Path) -> dict:
    """One row, in this process: the first call, and the best of ``repeats`` calls in wall and in
    CPU seconds (this process's threads; on a shared core the CPU seconds move less); saves the
    frames."""
    from _peak import peak_rss_mb

    from blur2video.checkpoints import load_model
    from blur2video.restore import bundled_weights
    from blur2video.runtime import keep_freed_memory

    torch.set_num_threads(threads)
    keep_freed_memory()
    model, _ = load_model(bundled_weights(), "cpu")
    x = blurred_photo(height, width)
    if row in ("onnxruntime", "openvino"):
        from blur2video import engines

        os.environ["BLUR2VIDEO_CACHE"] = str(out / f"cache-{row}")
        network = engines.build(row, model, torch.device("cpu"))
    elif row == "compile":
        network = torch.compile(model)
    else:
        network = model
    result: dict = {}
    with torch.inference_mode():
        started = time.perf_counter()
        frames = network(x).frames
        result["first"] = time.perf_counter() - started
        if row == "torch":
            from blur2video.model.flops import count_flops

            result["flops"] = count_flops(lambda: model(x))
        wall = cpu = float("inf")
        for _ in range(repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            network(x)
            wall, cpu = min(wall, time.perf_counter() - started), min(cpu, time.process_time() - started_cpu)
    np.save(out / f"{row}.npy", frames.float().numpy())
    return {**result, "seconds": wall, "cpu": cpu, "rss": peak_rss_mb()}


def run_row(row: str, args: argparse.Namespace, out: Path) -> dict:
    """``measure`` in a fresh process on this tree (or the --before one)."""
    tree = args.before if row == "before" else THIS
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, str(HERE)]), "OMP_NUM_THREADS": str(args.threads)}
    command = [sys.executable, __file__, "--child", row, "--out", str(out)]
    command += ["--height", str(args.height), "--width", str(args.width)]
    command += ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", nargs="+", default=["torch", "compile", "onnxruntime", "openvino"], choices=ROWS)
    parser.add_argument("--before", default=None, help="another source tree: its eager torch is a row too")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.height, args.width, args.threads, args.repeats, Path(args.out))))
        return
    from _peak import gemm_rates, peak_columns, percent_cells, rates_line

    torch.set_num_threads(args.threads)
    rates = gemm_rates()
    rows = ["torch"] + [r for r in args.rows if r != "torch"] + (["before"] if args.before else [])
    print(f"torch {torch.__version__}, {args.threads} threads, {args.width}x{args.height}, N = 7; {rates_line(rates)}")
    print()
    print(
        "| engine | seconds | CPU seconds | speed vs eager torch | max abs diff | first call (s) | peak RSS (MB) "
        f"| GFLOP/s | {peak_columns(rates)} |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(rates))
    with tempfile.TemporaryDirectory(prefix="b2v-inference-") as tmp:
        out = Path(tmp)
        base = run_row("torch", args, out)
        if "error" in base:
            raise SystemExit(f"eager torch failed: {base['error']}")
        reference = np.load(out / "torch.npy")
        for row in rows:
            got = base if row == "torch" else run_row(row, args, out)
            if "error" in got:
                print(f"| {ROWS[row]} | failed: {got['error']} |")
                continue
            diff = float(np.abs(np.load(out / f"{row}.npy") - reference).max())
            rate = base["flops"] / got["seconds"] / 1e9
            print(
                f"| {ROWS[row]} | {got['seconds']:.2f} | {got['cpu']:.2f} | {base['seconds'] / got['seconds']:.2f}x "
                f"| {diff:.1e} | {got['first']:.1f} | {got['rss']:.0f} | {rate:.0f} | {percent_cells(rate, rates)} |"
            )


if __name__ == "__main__":
    main()
