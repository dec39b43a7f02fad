"""The ``blur2video`` command: parses flags, calls the library, turns bad input into one line.

Bad input raises Blur2VideoError in the library; here it becomes ``blur2video: error: ...`` on
stderr and exit code 2. Ctrl-C exits with 130 after the library has cleaned up.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from . import progress
from ._version import __version__
from .conventions import check_fov, frame_count_problem, parse_shard
from .errors import Blur2VideoError
from .runtime import check_device_name, keep_freed_memory

DESCRIPTION = """\
Restore the sharp frames (3, 5 or 7) and the motion hidden in a motion-blurred photo, with the
bundled model or your own; make blurred datasets, train and evaluate models as in the paper
(Argaw et al., "Restoration of Video Frames from a Single Blurred Image with Motion
Understanding", CVPR workshops 2021)."""

EPILOG = """\
start here:
  blur2video restore --example --out restored    restore the blurred photo shipped in the package
  blur2video restore photo.jpg --out restored    your photos: frames, GIF, MP4, sheet and motion
  blur2video COMMAND --help                      every flag of a command, with its default"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every flag's help ends with its default, unless the help already says it or there is none
    to show (an on/off flag, or a value that comes from elsewhere, such as train's config)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        hidden = default is None or default is False or default is argparse.SUPPRESS or default == []
        if action.option_strings and not hidden and "default" not in text:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error format: one line on stderr, exit 2, no usage block."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)  # subcommands' parsers are made through here too
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"blur2video: error: {message} (see '{self.prog} --help')\n")


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in [low, high], refused where it is parsed."""
    span = f">= {low}" if high is None else f"between {low} and {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text}: give a whole number {span}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text}: give a whole number {span}")
        return value

    return parse


def _real(low: float, high: float = math.inf, low_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number above ``low`` (or from it) up to ``high``; NaN and
    infinities are refused too, since every float option is a size, an angle or a rate."""
    span = f"{'above' if low_open else 'from'} {low:g}" + ("" if math.isinf(high) else f" up to {high:g}")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if low_open else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(f"{text}: give a number {span}")
        return value

    return parse


def _odd_frames(text: str) -> int:
    """N target frames: odd (a middle frame exists) and at least 3."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    problem = frame_count_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return value


def _fov(text: str) -> float:
    """A pinhole's horizontal field of view in degrees, checked as the camera checks it."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    try:
        check_fov(value)
    except Blur2VideoError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _shard(text: str) -> str:
    """``i/n`` checked where it is parsed; the library takes the text."""
    try:
        parse_shard(text)
    except Blur2VideoError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _device(text: str) -> str:
    """--device checked where it is parsed, before any model loads."""
    try:
        return check_device_name(text)
    except Blur2VideoError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--device ")) from None


def _out_folder(text: str) -> str:
    """An output folder: made if missing, refused where a file already has its name (else a
    traceback from mkdir once the work has started)."""
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a file, not a folder; give a folder (it is created if missing)")
    return text


def _key(key: str) -> str:
    """How a train flag's help names the config key it sets, whose default the config gives."""
    return f"sets {key} (default: the config's; see --print-config)"


SEED_HELP = "seed of every random choice: the same seed and flags give the same samples"
ACCUMULATE_HELP = "average stored sRGB values (paper) or linear light"
SHARD_HELP = "i/n: write only samples with index %% n == i, to split one dataset over machines (default: all)"
THREADS_HELP = "CPU threads for torch (default: torch's own choice, one per core)"
DEVICE_HELP = "auto (CUDA when present), cpu or cuda"

COUNT = _whole(1)  # samples, steps, epochs, batch sizes, pool workers, threads
NATURAL = _whole(0)  # frame indices, object counts, DataLoader workers, crops where 0 means "whole"
SEED = _whole(0, 2**63 - 1)  # numpy's SeedSequence refuses negative seeds, torch's above 2**63
PIXELS = _real(0.0, 1e4)  # motion over the exposure, in pixels


def _add_quiet(p: argparse._ActionsContainer) -> None:
    """--quiet, the same on every long command (the choice itself is blur2video.progress's)."""
    p.add_argument("--quiet", action="store_true", help="no progress bar or step lines: stderr shows errors only")


class _Distinct(argparse.Action):
    """A list option whose items must differ (duplicate labels or variants would collapse rows)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values, option_string: str | None = None
    ) -> None:
        seen = set()
        for value in values:
            if value in seen:
                parser.error(f"argument {option_string}: {value!r} is given twice; give each once")
            seen.add(value)
        setattr(namespace, self.dest, values)


def _command(commands: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose one line in the list above is also the opening line of its own --help."""
    return commands.add_parser(name, help=text, description=text)


def _add_synth_rotation(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "rotation", "camera-rotation blur from panoramas or photos (paper section 3)")
    p.add_argument("--source", required=True, help="folder or image file, or 'skimage[:name,...]' for bundled photos")
    p.add_argument(
        "--kind",
        choices=["panorama", "photo"],
        default="panorama",
        help="equirectangular 2:1 panoramas or ordinary photos",
    )
    p.add_argument("--out", required=True, help="DATASET folder to write (resumed if it exists)")
    p.add_argument("--samples", type=COUNT, default=100, help="how many blurred samples to write")
    p.add_argument("--frames", type=_odd_frames, default=7, help="N target frames (odd, >= 3)")
    p.add_argument("--size", type=_whole(16), default=256, help="square output size in pixels")
    p.add_argument(
        "--fov",
        type=_fov,
        default=60.0,
        help="horizontal FOV in degrees: of the virtual camera (panorama) or of the photo (photo)",
    )
    p.add_argument(
        "--max-angle",
        type=_real(0.0, 45.0, low_open=True),
        default=5.0,
        help="Euler angles drawn uniformly in [-max, max] degrees per axis",
    )
    p.add_argument(
        "--frames-per-degree",
        type=_real(0.0, 1000.0, low_open=True),
        default=8.0,
        help="renders per degree of rotation (k in n = k * angle)",
    )
    p.add_argument(
        "--accumulate",
        choices=["srgb", "linear"],
        default="srgb",
        help=ACCUMULATE_HELP,
    )
    p.add_argument(
        "--max-pitch",
        type=_real(0.0, 90.0),
        default=30.0,
        help="initial views look at most this far up or down (panorama)",
    )
    p.add_argument("--seed", type=SEED, default=0, help=SEED_HELP)
    p.add_argument("--workers", type=COUNT, default=1, help="worker processes")
    p.add_argument("--shard", type=_shard, default=None, help=SHARD_HELP)
    p.add_argument("--force", action="store_true", help="accept panoramas that are not 2:1")
    _add_quiet(p)


def _run_synth_rotation(args: argparse.Namespace) -> int:
    from .synth.sources import discover_sources

    discover_sources(args.source)  # a wrong --source is told in a blink, before torch loads
    from .synth.api import synthesize_rotation
    from .synth.rotation import RotationSettings

    settings = RotationSettings(
        source_kind=args.kind,
        frames=args.frames,
        size=args.size,
        fov_deg=args.fov,
        max_angle_deg=args.max_angle,
        frames_per_degree=args.frames_per_degree,
        accumulate=args.accumulate,
        max_pitch_deg=args.max_pitch,
        seed=args.seed,
    )
    root, written = synthesize_rotation(
        args.source, args.out, args.samples, settings, workers=args.workers, shard=args.shard, force=args.force
    )
    print(f"wrote {written} samples ({args.samples} in total) to {root}/ (index: {root}/index.jsonl)")
    return 0


def _add_synth_video(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "video", "dynamic blur: the mean of N consecutive high-speed frames (GoPro style)")
    p.add_argument("--source", required=True, help="video file, folder of frames, folder of clips, or GoPro_Large root")
    p.add_argument("--out", required=True, help="DATASET folder to write (resumed if it exists)")
    p.add_argument("--frames", type=_odd_frames, default=7, help="N consecutive frames per blur (odd)")
    p.add_argument(
        "--stride", type=COUNT, default=None, help="frames between window starts (default: N, non-overlapping)"
    )
    p.add_argument("--size", type=NATURAL, default=256, help="square random crop size; 0 for whole frames")
    p.add_argument("--crops-per-window", type=COUNT, default=1, help="random crops taken from every window")
    p.add_argument("--samples", type=COUNT, default=None, help="how many samples (default: every window x crops)")
    p.add_argument(
        "--split",
        choices=["train", "test"],
        default=None,
        help="GoPro split when the source has train/ and test/ (default: train there)",
    )
    p.add_argument(
        "--first", type=NATURAL, default=0, help="use frames from this index of every clip (hold earlier ones out)"
    )
    p.add_argument("--last", type=NATURAL, default=0, help="use frames before this index of every clip (0: to the end)")
    p.add_argument("--accumulate", choices=["srgb", "linear"], default="srgb", help=ACCUMULATE_HELP)
    p.add_argument("--seed", type=SEED, default=0, help=SEED_HELP)
    p.add_argument("--workers", type=COUNT, default=1, help="worker processes")
    p.add_argument("--shard", type=_shard, default=None, help=SHARD_HELP)
    _add_quiet(p)


def _run_synth_video(args: argparse.Namespace) -> int:
    from .synth.api import synthesize_video
    from .synth.video import VideoSettings

    source = Path(args.source)
    if args.split and source.is_dir() and not ((source / "train").is_dir() or (source / "test").is_dir()):
        raise Blur2VideoError(  # else every clip was used, silently, as if it were the split asked for
            f"--split {args.split}: {source} has no train/ or test/ folder (a GoPro_Large root has both); "
            "drop --split to use all its clips"
        )
    settings = VideoSettings(
        frames=args.frames,
        stride=args.stride or args.frames,
        size=args.size,
        crops_per_window=args.crops_per_window,
        accumulate=args.accumulate,
        seed=args.seed,
        split=args.split,
        first=args.first,
        last=args.last,
    )
    root, written = synthesize_video(
        args.source, args.out, args.samples, settings, workers=args.workers, shard=args.shard
    )
    index = Path(root) / "index.jsonl"  # absent while other shards are still writing
    total = f" ({len(index.read_text().splitlines())} in total)" if index.is_file() else ""
    print(f"wrote {written} samples{total} to {root}/ (index: {index})")  # a rerun writes 0: the total says why
    return 0


def _add_synth_scenes(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub, "scenes", "procedural dynamic blur: textured objects moving over a moving background, with true flows"
    )
    p.add_argument("--out", required=True, help="DATASET folder to write (resumed if it exists)")
    p.add_argument("--samples", type=COUNT, default=100, help="how many blurred samples to write")
    p.add_argument("--frames", type=_odd_frames, default=7, help="N target frames (odd, >= 3)")
    p.add_argument("--size", type=_whole(32), default=256, help="square output size in pixels")
    p.add_argument("--objects", type=NATURAL, default=3, help="foreground objects per scene")
    p.add_argument(
        "--textures", default="skimage", help="folder of photos to cut textures from (default: scikit-image's photos)"
    )
    p.add_argument("--max-camera-shift", type=PIXELS, default=8.0, help="background motion over the exposure, pixels")
    p.add_argument("--max-object-shift", type=PIXELS, default=16.0, help="object motion over the exposure, pixels")
    p.add_argument(
        "--max-rotation", type=_real(0.0, 45.0), default=3.0, help="background rotation, degrees (objects: 4x)"
    )
    p.add_argument("--accumulate", choices=["srgb", "linear"], default="srgb", help=ACCUMULATE_HELP)
    p.add_argument("--seed", type=SEED, default=0, help=SEED_HELP)
    p.add_argument("--workers", type=COUNT, default=1, help="worker processes")
    p.add_argument("--shard", type=_shard, default=None, help=SHARD_HELP)
    _add_quiet(p)


def _run_synth_scenes(args: argparse.Namespace) -> int:
    from .synth.sources import discover_sources

    discover_sources(args.textures, "--textures")  # a wrong --textures is told before torch loads
    from .synth.api import synthesize_scenes
    from .synth.scenes import SceneSettings

    settings = SceneSettings(
        frames=args.frames,
        size=args.size,
        objects=args.objects,
        max_camera_shift=args.max_camera_shift,
        max_object_shift=args.max_object_shift,
        max_rotation_deg=args.max_rotation,
        accumulate=args.accumulate,
        seed=args.seed,
    )
    root, written = synthesize_scenes(
        args.out, args.samples, settings, args.textures, workers=args.workers, shard=args.shard
    )
    print(f"wrote {written} samples ({args.samples} in total) to {root}/ (index: {root}/index.jsonl)")
    return 0


def _add_train(commands: argparse._SubParsersAction) -> None:
    p = _command(commands, "train", "train a model (one process, or data-parallel under torchrun)")
    p.add_argument(
        "--config",
        default=None,
        help="TOML preset (configs/*.toml) or a RUN/config.toml (default: none, the built-in defaults)",
    )
    p.add_argument(
        "--recipe",
        default=None,
        help="a folder of stages run in order into --out, each from the last one's weights (configs/bundled); "
        "instead of --config and --data (default: none, one run of one config)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="DATASET folder; sets data.path, instead of the config's streams (default: the config's data)",
    )
    p.add_argument(
        "--val-data",
        default=None,
        help="separate validation DATASET; sets data.val_path (default: a share of --data, train.val_fraction)",
    )
    p.add_argument(
        "--out",
        type=_out_folder,
        default=None,
        help="RUN folder for checkpoints, logs and the resolved config (required to train)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--epochs", type=COUNT, default=None, help=f"passes over the training data; {_key('train.epochs')}")
    p.add_argument(
        "--steps", type=COUNT, default=None, help=f"train this many steps (overrides --epochs); {_key('train.steps')}"
    )
    p.add_argument("--batch-size", type=COUNT, default=None, help=f"global batch size; {_key('train.batch_size')}")
    p.add_argument(
        "--lr", type=_real(0.0, 1.0, low_open=True), default=None, help=f"Adam's learning rate; {_key('train.lr')}"
    )
    p.add_argument(
        "--crop", type=NATURAL, default=None, help=f"random crop size (0: whole samples); {_key('train.crop')}"
    )
    p.add_argument(
        "--frames",
        type=_odd_frames,
        default=None,
        help="N frames the model predicts; sets model.frames (default: the config's, else --data's N, else 7)",
    )
    p.add_argument(
        "--workers", type=NATURAL, default=None, help=f"DataLoader worker processes; {_key('train.workers')}"
    )
    p.add_argument(
        "--seed", type=SEED, default=None, help=f"seeds weights, sample order and augmentation; {_key('train.seed')}"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any config value, e.g. loss.penalty=false; repeat it for more (default: none)",
    )
    p.add_argument("--device", type=_device, default="auto", help=DEVICE_HELP)
    p.add_argument("--amp", action="store_true", help="mixed precision on CUDA")
    p.add_argument(
        "--threads",
        type=COUNT,
        default=None,
        help="CPU threads for torch and for rendering the camera-rotation streams (default: one per core)",
    )
    _add_quiet(p)
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved configuration as TOML and exit (no --out needed)",
    )


def _run_train(args: argparse.Namespace) -> int:
    from .train import train
    from .train_config import parse_override, resolve

    flags = {
        ("data", "path"): args.data,
        ("data", "val_path"): args.val_data,
        ("train", "epochs"): args.epochs,
        ("train", "steps"): args.steps,
        ("train", "batch_size"): args.batch_size,
        ("train", "lr"): args.lr,
        ("train", "crop"): args.crop,
        ("model", "frames"): args.frames,
        ("train", "workers"): args.workers,
        ("train", "seed"): args.seed,
    }
    overrides = [{s: {k: v}} for (s, k), v in flags.items() if v is not None]
    if args.data is not None:  # a DATASET folder instead of the config's streams (a preset offers both)
        overrides.append({"data": {"stream": []}})
    overrides += [parse_override(text) for text in args.set]
    if args.recipe is not None:
        return _run_recipe(args, overrides)
    config = args.config
    if args.resume and config is None and args.out is not None and (Path(args.out) / "config.toml").exists():
        config = Path(args.out) / "config.toml"
    elif args.resume and config is None and args.data is None and not args.print_config and args.out is not None:
        raise Blur2VideoError(  # else "no training data", as if the run's own config were not meant
            f"{args.out}: no run to resume (no config.toml); check the folder's name, or start a run there with "
            "--config or --data"
        )
    cfg = resolve(config, overrides)
    if args.print_config:
        import tomli_w

        print(tomli_w.dumps(cfg.as_dict()), end="")
        return 0
    if args.out is None:
        raise Blur2VideoError("train: --out RUN is required (the folder for checkpoints, logs and the resolved config)")
    if args.threads:
        _training_threads(args.threads)
    try:
        model = train(cfg, args.out, device=args.device, amp=args.amp, resume=args.resume, quiet=args.quiet)
    except Blur2VideoError:
        if os.environ.get("RANK", "0") != "0":  # under torchrun every rank stops with the same line: rank 0 says it
            return 2
        if (
            int(os.environ.get("WORLD_SIZE", "1")) > 1
        ):  # torchrun SIGTERMs rank 0 once another rank has exited: say the line first
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise
    if os.environ.get("RANK", "0") == "0":
        print(f"trained model: {model}")
    return 0


def _training_threads(threads: int) -> None:
    """--threads in training: the network's torch threads and the threads that render the
    camera-rotation streams' views (OpenCV), so a run told to use one core uses one."""
    import torch

    from .geometry.sampling import set_render_threads

    torch.set_num_threads(threads)
    set_render_threads(threads)


def _run_recipe(args: argparse.Namespace, overrides: list[dict]) -> int:
    from .recipe import run_recipe

    given = [
        flag
        for flag, value in (("--config", args.config), ("--data", args.data), ("--val-data", args.val_data))
        if value
    ]
    if given:
        raise Blur2VideoError(f"--recipe runs its stages' own configs and data: drop {' and '.join(given)}")
    if args.print_config:
        raise Blur2VideoError("--print-config prints one config: give --config with a stage's file instead of --recipe")
    if args.out is None:
        raise Blur2VideoError("train --recipe: --out RUN is required (the folder every stage trains into)")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise Blur2VideoError("--recipe runs in one process: start it without torchrun")
    if args.threads:
        _training_threads(args.threads)
    command = shlex.join(["blur2video", "train", *_recipe_argv(args)])
    model = run_recipe(
        args.recipe,
        args.out,
        overrides,
        device=args.device,
        amp=args.amp,
        resume=args.resume,
        quiet=args.quiet,
        command=command,
    )
    print(f"trained model: {model}")
    return 0


def _recipe_argv(args: argparse.Namespace) -> list[str]:
    """The recipe command as given, for the weights' metadata (without --resume: the same run)."""
    argv = ["--recipe", str(args.recipe), "--out", str(args.out)]
    for text in args.set:
        argv += ["--set", text]
    for flag in ("steps", "epochs", "batch_size", "lr", "crop", "frames", "workers", "seed", "threads"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    if args.device != "auto":
        argv += ["--device", args.device]
    return argv + (["--amp"] if args.amp else [])


def _add_restore(commands: argparse._SubParsersAction) -> None:
    p = _command(
        commands,
        "restore",
        "restore the sharp frames and the motion hidden in blurred photos, or every frame of a blurred video",
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="image files, folders of images, glob patterns, or videos (.mp4, .mov, .avi, .mkv, .webm): "
        "OUT/NAME/NAME.mp4 at N times the frame rate",
    )
    p.add_argument("--example", action="store_true", help="also restore the blurred example shipped in the package")
    p.add_argument("--out", default="restored", help="output folder; each input gets OUT/NAME/")
    p.add_argument("--checkpoint", default=None, help="model file (default: the bundled pretrained model)")
    p.add_argument(
        "--format", default="gif,mp4", help="animations to write: gif, mp4, both (gif,mp4) or png (frames only)"
    )
    p.add_argument(
        "--fps",
        type=_real(0.1, 240.0),
        default=8.0,
        help="animation frame rate (0.1 to 240); a video keeps N x its own",
    )
    p.add_argument("--pingpong", action="store_true", help="animate forward then backward")
    p.add_argument("--frames-only", action="store_true", help="write only frame_*.png")
    p.add_argument(
        "--max-pixels",
        type=_whole(64 * 64),
        default=1280 * 736,
        help="pixels above which a photo is restored in overlapping tiles, to bound memory (default: 942080, 1280x736)",
    )
    p.add_argument("--device", type=_device, default="auto", help=DEVICE_HELP)
    p.add_argument(
        "--backend",
        default="auto",
        help="what runs the network: auto (the fastest measured on this device: torch), torch, onnxruntime or "
        "openvino (the last two on the CPU: pip install 'blur2video[engines]'; they export the network once per size)",
    )
    p.add_argument("--threads", type=COUNT, default=None, help=THREADS_HELP)
    feedback = p.add_mutually_exclusive_group()
    _add_quiet(feedback)
    feedback.add_argument(
        "--verbose", action="store_true", help="also say where the time went: load, network and writing seconds"
    )


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler, ``kill``) ends restore like Ctrl-C, so the temporary folder being
    written is removed on the way out instead of left behind."""
    raise KeyboardInterrupt


def _run_restore(args: argparse.Namespace) -> int:
    import signal
    import threading

    import torch

    from .outputs import check_formats, prepare_out
    from .restore import Restorer, bundled_example, expand_inputs
    from .restore_batch import WriteOptions, restore_all
    from .video import is_video

    formats = check_formats(args.format, "--format")
    if args.threads:
        torch.set_num_threads(args.threads)
    notes: list[str] = []
    paths, failures = expand_inputs(args.inputs, notes)
    if args.example:
        paths.append(bundled_example())
    if not paths and not failures:
        raise Blur2VideoError("no input: give image files, folders or globs (or --example)")
    for line in failures:
        print(f"blur2video: error: {line}", file=sys.stderr)
    photo_flags = [
        flag
        for flag, given in (
            (f"--format {args.format}", args.format != "gif,mp4"),
            ("--pingpong", args.pingpong),
            ("--frames-only", args.frames_only),
        )
        if given
    ]
    if photo_flags and any(is_video(p) for p in paths):  # else a video's MP4 looked like a flag ignored
        notes.append(f"{' '.join(photo_flags)}: for photos; a video becomes OUT/NAME/NAME.mp4, N sub-frames per frame")
    for folder in prepare_out(args.out):  # before any work: an unwritable --out fails at once
        notes.append(f"{folder}: removed, an unfinished output of an interrupted run")
    for note in notes:
        progress.say(f"blur2video: note: {note}")
    restorer = (
        Restorer.from_checkpoint(args.checkpoint, args.device, args.backend)
        if args.checkpoint
        else Restorer.from_pretrained(args.device, args.backend)
    )
    options = WriteOptions(formats, args.fps, args.pingpong, args.frames_only or formats == ("png",))
    main_thread = threading.current_thread() is threading.main_thread()  # signal handlers can only be set there
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt) if main_thread else None
    try:
        split = restore_all(restorer, paths, args.out, options, args.max_pixels, verbose=args.verbose)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    return 2 if failures or split.failures else 0


def _add_serve(commands: argparse._SubParsersAction) -> None:
    p = _command(commands, "serve", "a local web page for restore: drop a photo, see and download its video")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=_whole(0, 65535), default=7860, help="port (0: any free one)")
    p.add_argument("--checkpoint", default=None, help="model file (default: the bundled pretrained model)")
    p.add_argument("--max-megapixels", type=_real(0.0, 1e4, low_open=True), default=16.0, help="largest photo accepted")
    p.add_argument("--max-file-mb", type=_real(0.0, 1e5, low_open=True), default=50.0, help="largest upload accepted")
    p.add_argument("--device", type=_device, default="auto", help=DEVICE_HELP)


def _run_serve(args: argparse.Namespace) -> int:
    from .serve import Limits, serve

    limits = Limits(max_file_mb=args.max_file_mb, max_megapixels=args.max_megapixels)
    return serve(args.host, args.port, args.checkpoint, limits, args.device)


def _add_eval(commands: argparse._SubParsersAction) -> None:
    p = _command(
        commands, "eval", "order-invariant PSNR/SSIM, motion error and the paper's tables for checkpoints on a DATASET"
    )
    p.add_argument("--checkpoint", nargs="+", required=True, help="one or more model files (one report row each)")
    p.add_argument(
        "--name",
        nargs="*",
        default=None,
        action=_Distinct,
        help="row labels, one per checkpoint (default: from the file names)",
    )
    p.add_argument("--data", required=True, help="DATASET folder to evaluate on")
    p.add_argument("--out", type=_out_folder, required=True, help="report folder (report.md, report.json, plots)")
    p.add_argument("--batch-size", type=COUNT, default=4, help="samples per forward pass")
    p.add_argument("--samples", type=COUNT, default=None, help="only the first S samples (default: all)")
    p.add_argument("--device", type=_device, default="auto", help=DEVICE_HELP)
    p.add_argument("--threads", type=COUNT, default=None, help=THREADS_HELP)
    _add_quiet(p)


def _run_eval(args: argparse.Namespace) -> int:
    import torch

    from .evaluate import evaluate

    if args.name and len(args.name) != len(args.checkpoint):
        raise Blur2VideoError(
            f"--name: {len(args.name)} labels for {len(args.checkpoint)} checkpoints; give one per checkpoint"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    evaluate(args.checkpoint, args.data, args.out, args.batch_size, args.device, args.samples, args.name)
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def _add_ablate(commands: argparse._SubParsersAction) -> None:
    p = _command(commands, "ablate", "train and evaluate every Table-5 variant with the same budget")
    p.add_argument("--data", required=True, help="training DATASET folder")
    p.add_argument("--val-data", default=None, help="evaluation DATASET (default: --data)")
    p.add_argument(
        "--config", default=None, help="base TOML config the variants modify (default: the built-in defaults)"
    )
    p.add_argument("--steps", type=COUNT, required=True, help="training steps per variant")
    p.add_argument("--out", type=_out_folder, required=True, help="folder for one RUN per variant and table5.md")
    p.add_argument(
        "--variants", nargs="*", default=None, action=_Distinct, help="a subset of the variants (default: all)"
    )
    p.add_argument(
        "--jobs", type=COUNT, default=1, help="variants trained in parallel (one GPU each when CUDA is present)"
    )
    p.add_argument(
        "--eval-samples", type=COUNT, default=None, help="evaluate on the first S samples only (default: all)"
    )
    p.add_argument(
        "--seeds",
        nargs="+",
        type=SEED,
        default=None,
        action=_Distinct,
        help="train every variant once per seed (into NAME/seed-S) and report mean ± standard deviation "
        "(default: once, with the config's train.seed)",
    )
    p.add_argument("--device", type=_device, default="auto", help=DEVICE_HELP)
    _add_quiet(p)


def _run_ablate(args: argparse.Namespace) -> int:
    from .ablate import ablate

    ablate(
        args.data,
        args.out,
        args.config,
        args.steps,
        args.val_data,
        args.variants,
        args.jobs,
        args.device,
        args.eval_samples,
        args.seeds,
    )
    print(f"report: {Path(args.out) / 'table5.md'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="blur2video", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    synth = _command(commands, "synth", "synthesise blurred datasets (DATASET folders) to train and evaluate on")
    synth = synth.add_subparsers(dest="source_type", required=True, metavar="KIND")
    _add_synth_rotation(synth)
    _add_synth_video(synth)
    _add_synth_scenes(synth)
    _add_train(commands)
    _add_restore(commands)
    _add_serve(commands)
    _add_eval(commands)
    _add_ablate(commands)
    return parser


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command ``args`` ran: its --help lists the flags a typo missed."""
    for dest in ("command", "source_type"):
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or getattr(args, dest, None) not in sub.choices:
            break
        parser = sub.choices[getattr(args, dest)]
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse's own error names the top-level --help, not the command's
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    keep_freed_memory()  # every command moves large tensors (see blur2video.runtime)
    # torch warns in three lines when train.workers exceeds the CPUs this process may use; the
    # user asked for those workers, and every error of ours must stay one line on stderr.
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    previous = progress.set_mode("quiet" if getattr(args, "quiet", False) else "auto")
    handlers = {
        ("synth", "rotation"): _run_synth_rotation,
        ("synth", "video"): _run_synth_video,
        ("synth", "scenes"): _run_synth_scenes,
        ("train", None): _run_train,
        ("restore", None): _run_restore,
        ("serve", None): _run_serve,
        ("eval", None): _run_eval,
        ("ablate", None): _run_ablate,
    }
    try:
        return handlers[(args.command, getattr(args, "source_type", None))](args)
    except Blur2VideoError as exc:
        print(f"blur2video: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("blur2video: interrupted; rerun the same command (with --resume for train) to continue", file=sys.stderr)
        return 130
    finally:
        progress.set_mode(previous)
