"""Engine tests keep their exported graphs in one folder per test session: a graph is exported
once per model and size (about a minute for the bundled model), and tests of one size share it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("engine-cache")
    previous = os.environ.get("BLUR2VIDEO_CACHE")
    os.environ["BLUR2VIDEO_CACHE"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["BLUR2VIDEO_CACHE"]
    else:
        os.environ["BLUR2VIDEO_CACHE"] = previous
