"""Shared fixtures: small synthetic scenes made in the test, and the real data when present."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker takes its share of the cores (torch and the processes the
    tests start), so that workers do not fight over threads."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)


# The suite's longest modules, longest first (pytest --durations=0, 2 workers, 2026-12-03). The
# workers take whole modules (--dist loadfile) in collection order (--no-loadscope-reorder: by
# default pytest-xdist orders modules by their number of tests, which put 50 quick config checks
# first and a one-minute module last, alone on one worker). Longest first lets the short modules
# even out the end.
LONGEST_FIRST = (
    "serve/test_app.py",
    "reliability/test_training_runs.py",
    "engines/test_backends.py",
    "training/test_train.py",
    "test_restore.py",
    "reliability/test_restore_inputs.py",
    "test_tiling.py",
    "serve/test_service.py",
    "training/test_recipe.py",
    "scripts/test_model_selection.py",
    "test_progress.py",
    "test_pretrained.py",
    "synth/test_dead_leaves.py",
    "synth/test_rotation.py",
    "model/test_network.py",
    "reliability/test_datasets_cli.py",
    "model/test_kernel_bank.py",
    "test_video.py",
    "reliability/test_fuzz_inputs.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest modules first (see LONGEST_FIRST); the order inside a module is kept."""
    here = Path(__file__).resolve().parent
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}

    def module_rank(item: pytest.Item) -> int:
        try:
            return rank.get(item.path.resolve().relative_to(here).as_posix(), len(rank))
        except ValueError:  # a test outside tests/ (experiments/tests)
            return len(rank)

    items.sort(key=module_rank)


def run_main(args: list[str], capture: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess:
    """``blur2video ARGS`` in this process, as a finished process: main prints the same lines as
    the program, with the same exit code, without a fresh process's 5 s of imports. ``capture``:
    ``capsys``, or ``capfd`` to hold what forked workers write too."""
    from blur2video.cli import main

    capture.readouterr()
    code = main(args)
    out, err = capture.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """A folder with two small real photos from scikit-image."""
    import skimage.data

    d = tmp_path / "photos"
    d.mkdir()
    Image.fromarray(skimage.data.astronaut()).save(d / "astronaut.png")
    Image.fromarray(skimage.data.chelsea()).save(d / "chelsea.jpg")
    return d


@pytest.fixture
def pano_dir(tmp_path: Path) -> Path:
    """A folder with one small synthetic 2:1 panorama (smooth colour gradients plus texture)."""
    rng = np.random.default_rng(1)
    h, w = 128, 256
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 7.0) * np.cos(yy / 5.0)], -1)
    img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
    d = tmp_path / "panos"
    d.mkdir()
    Image.fromarray((img * 255).astype(np.uint8)).save(d / "pano.png")
    return d


def real_panorama() -> Path:
    """The real street panorama of this project's ../shared/data; a clone without it skips, saying
    what the test needs and where such data comes from publicly."""
    from blur2video.train_data import PUBLIC_DATA

    path = SHARED_DATA / "panoramas" / "street.jpg"
    if not path.exists():
        pytest.skip(f"needs a real panorama at {path} (../shared/data is optional): {PUBLIC_DATA['panoramas']}")
    return path
