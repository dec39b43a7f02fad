"""Device choice and the CPU allocator setting."""

import pytest
import torch

from blur2video.errors import Blur2VideoError
from blur2video.runtime import keep_freed_memory, pick_device


def test_cpu_device_and_allocator() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert isinstance(keep_freed_memory(), bool)
    big = torch.empty(64 * 2**20, dtype=torch.uint8).fill_(1)  # above glibc's mmap threshold: still works
    assert int(big.sum()) == 64 * 2**20


def test_auto_picks_what_exists() -> None:
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_one_clear_error() -> None:
    with pytest.raises(Blur2VideoError, match="--device cpu"):
        pick_device("cuda")


def test_a_typo_in_the_device_is_one_clear_error() -> None:
    with pytest.raises(Blur2VideoError, match="--device gpu: not a device; give auto, cpu or cuda"):
        pick_device("gpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")  # the API may pass a torch.device
