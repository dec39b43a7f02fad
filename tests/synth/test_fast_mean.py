"""The compiled one-pass averaging kernel against torch's integer path (identical bits expected)."""

import multiprocessing as mp
import shutil

import numpy as np
import pytest
import torch

from blur2video.synth import fast_mean
from blur2video.synth.accumulate import mean_uint8_torch

needs_kernel = pytest.mark.skipif(
    not fast_mean.available(), reason="the C kernel was not built (no C compiler at install)"
)


def _torch_mean(frames: torch.Tensor) -> torch.Tensor:
    """An independent exact reference: int32 sum, then the same float32 scale."""
    total = frames.to(torch.int32).sum(0)
    return total.float().mul_(1.0 / (255.0 * frames.shape[0]))


def test_kernel_is_built_where_a_compiler_exists() -> None:
    if shutil.which("cc") or shutil.which("gcc"):
        assert fast_mean.available(), "pip install -e . should have built blur2video/synth/_mean_u8.c"


@needs_kernel
@pytest.mark.parametrize("n", range(1, fast_mean.MAX_FRAMES + 1))
def test_kernel_matches_integer_mean(n: int) -> None:
    rng = np.random.default_rng(n)
    frames = torch.from_numpy(rng.integers(0, 256, (n, 3, 67, 131), dtype=np.uint8))
    frames[:, 0, 0, :5] = 255  # the largest total the kernel's uint16 must hold
    got = fast_mean.mean_uint8(frames)
    assert got is not None and got.dtype == torch.float32 and got.shape == (3, 67, 131)
    assert torch.equal(got, _torch_mean(frames))


@needs_kernel
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_split_the_range_exactly(threads: int) -> None:
    frames = torch.randint(
        0, 256, (7, 3, 257, 263), dtype=torch.uint8
    )  # 202,773 values: a split off any 64-boundary tail
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        got = fast_mean.mean_uint8(frames)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(got, _torch_mean(frames))


@needs_kernel
def test_non_contiguous_frames_are_averaged_in_their_own_order() -> None:
    hwc = torch.randint(0, 256, (5, 40, 30, 3), dtype=torch.uint8)
    chw = hwc.permute(0, 3, 1, 2)
    assert torch.equal(fast_mean.mean_uint8(chw), _torch_mean(chw))


@needs_kernel
def test_kernel_and_torch_fallback_agree() -> None:
    frames = torch.randint(0, 256, (9, 3, 50, 70), dtype=torch.uint8)
    assert torch.equal(fast_mean.mean_uint8(frames), mean_uint8_torch(frames))


def _mean_in_child(frames: torch.Tensor, queue) -> None:
    queue.put(fast_mean.mean_uint8(frames).numpy())  # by value: a tensor would travel as shared memory


@needs_kernel
def test_a_forked_child_averages_after_the_parent_did() -> None:
    """DataLoader workers fork after the main process built the thread pool."""
    frames = torch.randint(0, 256, (7, 3, 256, 256), dtype=torch.uint8)
    fast_mean.mean_uint8(frames)  # the parent's pool exists now
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_mean_in_child, args=(frames, queue))
    child.start()
    try:
        got = queue.get(timeout=30)
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
    assert torch.equal(torch.from_numpy(got), _torch_mean(frames))


def test_frames_it_cannot_take_fall_back() -> None:
    assert fast_mean.mean_uint8(torch.zeros(fast_mean.MAX_FRAMES + 1, 3, 4, 4, dtype=torch.uint8)) is None
    assert fast_mean.mean_uint8(torch.zeros(3, 3, 4, 4)) is None
