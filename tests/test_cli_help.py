"""Every command's --help prints its usage (argparse expands help strings with %, so a stray
percent sign there is a traceback for the user asking for help)."""

from __future__ import annotations

import pytest

from blur2video.cli import main

COMMANDS = [
    [],
    ["synth"],
    ["synth", "rotation"],
    ["synth", "video"],
    ["synth", "scenes"],
    ["train"],
    ["restore"],
    ["serve"],
    ["eval"],
    ["ablate"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "blur2video")
def test_help_prints_usage(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: blur2video")
