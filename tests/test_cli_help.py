"""Every command's --help prints its usage (argparse expands help strings with %, so a stray
percent sign there is a traceback for the user asking for help), says what every flag does and
what it defaults to, and answers without loading the network's libraries."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator

import pytest

from blur2video.cli import build_parser, main


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The command path of ``parser`` and of every subcommand below it."""
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _parser_at(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


COMMANDS = list(_parsers(build_parser()))


def test_every_command_is_checked() -> None:
    assert {" ".join(c) for c in COMMANDS} >= {"synth rotation", "synth video", "synth scenes", "train", "restore"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "blur2video")
def test_help_prints_usage(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: blur2video")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "blur2video")
def test_every_flag_says_what_it_does_and_its_default(command: tuple[str, ...]) -> None:
    parser = _parser_at(command)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a.help for a in action._choices_actions}
            assert all(listed.values()), f"blur2video {' '.join(command)}: a subcommand without help: {listed}"
            continue
        shown = formatter._get_help_string(action) % {**vars(action), "prog": parser.prog}
        where = f"blur2video {' '.join(command)} {'/'.join(action.option_strings) or action.dest}"
        assert action.help and len(action.help) > 10, f"{where}: no help text"
        takes_value = action.option_strings and action.nargs != 0
        if takes_value and not action.required:
            said = "default" in shown or "required" in shown
            assert said, f"{where}: the help does not say what happens without it: {shown!r}"


def test_flags_show_their_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["synth", "rotation", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--samples SAMPLES how many blurred samples to write (default: 100)" in out
    assert "--seed SEED seed of every random choice" in out and "(default: 0)" in out


def test_top_help_speaks_to_a_user(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert "motion-blurred photo" in description and "library" not in description
    assert "blur2video restore --example --out restored" in out  # a first command to try


@pytest.mark.parametrize(
    "code",
    [
        "import blur2video",
        "from blur2video.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from blur2video.cli import main\ntry:\n    main(['restore', '--help'])\nexcept SystemExit:\n    pass",
    ],
    ids=["import", "help", "restore-help"],
)
def test_help_and_import_load_neither_torch_nor_scipy_nor_a_synthesizer(code: str) -> None:
    probe = (
        "import sys\n" + code + "\nprint(sorted(m for m in ('torch', 'scipy', 'blur2video.synth') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "argv,unknown,command",
    [
        (["restore", "x.png", "--exmaple"], "--exmaple", "blur2video restore"),
        (["synth", "video", "--source", "v", "--out", "o", "--stirde", "2"], "--stirde 2", "blur2video synth video"),
    ],
)
def test_a_mistyped_flag_points_at_its_commands_help(
    argv: list[str], unknown: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said see 'blur2video --help', whose list of commands does not hold the flags."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"blur2video: error: unrecognized arguments: {unknown} (see '{command} --help')"


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "rotation", "--source", "no-such-folder", "--out", "o"],
        ["synth", "rotation", "--source", "skimage", "--out", "o", "--fov", "180"],
        ["synth", "rotation", "--source", "skimage", "--out", "o", "--shard", "3/2"],
        ["synth", "rotation", "--source", "skimage", "--out", "o", "--size", "40000"],
        ["synth", "scenes", "--textures", "no-such-folder", "--out", "o"],
    ],
    ids=["source", "fov", "shard", "size", "textures"],
)
def test_a_wrong_synth_flag_is_told_before_torch_loads(argv: list[str], tmp_path) -> None:
    """A mistyped source or out-of-range flag answers in under a second, not after 2-4 s of imports."""
    probe = (
        "import sys\nfrom blur2video.cli import main\n"
        f"try:\n    code = main({argv!r})\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "2 False", done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("blur2video: error:")
