"""Start-up time of the command line and of ``import blur2video``: the fastest of R fresh
processes per command, beside a bare interpreter and ``import torch`` measured in the same run.

    python benchmarks/startup.py [--repeats 5] [--peer OTHER_SRC]

``--peer`` times the same commands against another source tree (say, the code before a change:
``git archive COMMIT src | tar -x -C /tmp/before`` and ``--peer /tmp/before/src``) and states this
tree's time as a ratio of it. Both trees are put first on PYTHONPATH, so an installed copy is not what
gets measured.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
COMMANDS = {
    "python -c pass (the interpreter alone)": ["-c", "pass"],
    "python -c 'import torch'": ["-c", "import torch"],
    "blur2video --help": ["-m", "blur2video", "--help"],
    "blur2video restore --help": ["-m", "blur2video", "restore", "--help"],
    "python -c 'import blur2video'": ["-c", "import blur2video"],
    "python -c 'from blur2video import Restorer'": ["-c", "from blur2video import Restorer"],
}


def best_start(args: list[str], src: Path, repeats: int) -> float:
    """Fastest wall time of ``repeats`` fresh processes (after one to warm the file cache)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    best = float("inf")
    for i in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], env=env, check=True, stdout=subprocess.DEVNULL)
        if i:
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per command (default: 5)")
    parser.add_argument("--peer", type=Path, default=None, help="another source tree to time the same way")
    args = parser.parse_args()
    head = "| command | seconds | over the interpreter |"
    rule = "|---|---:|---:|"
    if args.peer:
        head, rule = head + " peer seconds | this / peer |", rule + "---:|---:|"
    print(head + "\n" + rule)
    bare = None
    for label, command in COMMANDS.items():
        seconds = best_start(command, SRC, args.repeats)
        bare = seconds if bare is None else bare
        row = f"| {label} | {seconds:.2f} | {seconds - bare:+.2f} |"
        if args.peer:
            other = best_start(command, args.peer, args.repeats)
            row += f" {other:.2f} | {seconds / other:.2f}x |"
        print(row)


if __name__ == "__main__":
    main()
