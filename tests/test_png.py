"""fileio.encode_png: our own PNG writer (Sub filter, zlib) must give back every pixel exactly,
for every shape the library writes and the odd ones, to any PNG reader."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from blur2video.fileio import encode_png, read_image, write_png


@pytest.mark.parametrize(
    "shape", [(1, 1, 3), (1, 9, 3), (9, 1, 3), (33, 17, 3), (64, 48), (20, 30, 1), (20, 30, 2), (20, 30, 4)]
)
def test_every_pixel_comes_back(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    image[0, 0], image[-1, -1] = 0, 255  # both ends of the range, where the filter wraps around
    data = encode_png(image)
    Image.open(io.BytesIO(data)).verify()  # every chunk's checksum
    back = np.asarray(Image.open(io.BytesIO(data)))
    assert back.dtype == np.uint8 and np.array_equal(back.reshape(image.shape), image)


def test_write_png_takes_floats_and_reads_back_as_their_rounding(tmp_path) -> None:
    floats = np.random.default_rng(0).random((40, 56, 3), dtype=np.float32)
    write_png(tmp_path / "a.png", floats)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.rint(floats * 255).astype(np.uint8))
    assert np.array_equal(read_image(tmp_path / "a.png"), np.rint(floats * 255) / 255)


def test_a_flat_image_compresses_and_bad_input_is_refused() -> None:
    assert len(encode_png(np.full((256, 256, 3), 128, np.uint8))) < 2000
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((4, 4, 5), np.uint8))
