"""Write a training run's weights as one fp16 model file (--out), or as the package's bundled model.

    python scripts/bundle_model.py runs/demo --into-package [--from best|latest|step-NNNNNNNN] [--average K]
    python scripts/bundle_model.py runs/demo --out candidate.safetensors [...]

The package's bundled model is replaced only with ``--into-package``; ``--out`` writes the same fp16
file elsewhere, e.g. to keep a candidate that is not bundled (yet). One of the two is required, so
a forgotten flag never overwrites the model every user restores with.
``--average K`` bundles the mean of the weights of the K kept checkpoints up to ``--from`` (a
checkpoint folder or latest): single checkpoints of a short CPU run move by tenths of a dB from one
to the next on unseen data, and averaging the last few is the cheap, standard remedy (Polyak
averaging; the paper is silent). ``blur2video train --recipe configs/bundled`` hands each stage's
weights on the same way (``blur2video.bundle``).

Records in the weights' metadata what docs/model-card.md also states: the command that made them, the
training wall time and step, the data mixture (the run's [data] table) and where it ran.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from blur2video.bundle import bundle_run, where_trained
from blur2video.errors import Blur2VideoError
from blur2video.restore import bundled_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the RUN folder blur2video train wrote (--out)")
    parser.add_argument(
        "--from", dest="which", default="latest", help="best, latest or a checkpoint folder name (step-NNNNNNNN)"
    )
    parser.add_argument(
        "--average", type=int, default=1, metavar="K", help="the mean of the last K checkpoints up to --from"
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="the model file to write (not the package's)")
    where.add_argument(
        "--into-package",
        action="store_true",
        help=f"replace the package's bundled model, {bundled_weights()}",
    )
    parser.add_argument(
        "--command",
        default="blur2video train --recipe configs/bundled --out runs/bundled --threads 2",
        help="the command that trained the run, recorded in the weights' metadata",
    )
    parser.add_argument("--where", default=where_trained(), help="the machine it ran on, recorded likewise")
    args = parser.parse_args()
    if args.into_package:
        args.out = bundled_weights()
    try:
        extra = bundle_run(args.run, args.out, args.which, args.average, args.command, args.where)
    except Blur2VideoError as exc:
        parser.error(str(exc))
    size = args.out.stat().st_size / 1e6
    print(
        f"{extra['source']} -> {args.out} ({size:.1f} MB, step {extra['train_step']}, "
        f"{extra['train_wall_seconds']} s of training)"
    )


if __name__ == "__main__":
    main()
