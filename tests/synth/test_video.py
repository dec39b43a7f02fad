"""Dynamic blur from high-speed video: averaging, sources, natural sort, every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import skimage.data
from PIL import Image

from blur2video.cli import main
from blur2video.errors import Blur2VideoError
from blur2video.fileio import read_image
from blur2video.synth.api import synthesize_video
from blur2video.synth.clips import natural_key
from blur2video.synth.video import VideoSettings

WIDE = skimage.data.astronaut()[100:164, 100:200]  # 64 x 100 real texture


def write_frames(folder: Path, frames: list[np.ndarray], name: str = "frame_{}.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / name.format(i))
    return folder


def translating(count: int, width: int = 64) -> list[np.ndarray]:
    """Frame t shows WIDE[:, t : t + width]: the scene moves left by 1 px per frame."""
    return [np.ascontiguousarray(WIDE[:, t : t + width]) for t in range(count)]


def load(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "index.jsonl").read_text().splitlines()]


def test_static_clip_blurs_to_its_own_frame(tmp_path: Path) -> None:
    src = write_frames(tmp_path / "static", [WIDE] * 7)
    root, n = synthesize_video(src, tmp_path / "ds", settings=VideoSettings(frames=7, size=0))
    rec = load(root)[0]
    np.testing.assert_array_equal(np.asarray(Image.open(root / rec["blur"])), WIDE)


def test_translation_blurs_to_the_box_filtered_image(tmp_path: Path) -> None:
    src = write_frames(tmp_path / "move", translating(5))
    root, _ = synthesize_video(src, tmp_path / "ds", settings=VideoSettings(frames=5, size=0))
    blur = read_image(root / load(root)[0]["blur"]) * 255
    # independent: a 5-tap box filter along x by cumulative sums over the wide image
    wide = WIDE.astype(np.float64)
    c = np.concatenate([np.zeros((64, 1, 3)), np.cumsum(wide, axis=1)], axis=1)
    box = (c[:, 5:69] - c[:, 0:64]) / 5
    assert np.abs(blur - box).max() <= 0.5 + 1e-6  # 8-bit rounding


def test_png_folder_and_lossless_video_give_the_same_dataset(tmp_path: Path) -> None:
    frames = translating(14)
    src = write_frames(tmp_path / "png", frames)
    video = tmp_path / "clip.mkv"
    writer = imageio.get_writer(
        video, format="FFMPEG", fps=30, codec="ffv1", pixelformat="bgr0", macro_block_size=1, ffmpeg_log_level="error"
    )
    for f in frames:
        writer.append_data(f)
    writer.close()
    settings = VideoSettings(frames=7, stride=3, size=32, seed=4)
    a, _ = synthesize_video(src, tmp_path / "a", settings=settings)
    b, _ = synthesize_video(video, tmp_path / "b", settings=settings)
    ra, rb = load(a), load(b)
    assert len(ra) == len(rb) == 3
    for x, y in zip(ra, rb, strict=False):
        assert x["meta"]["crop"] == y["meta"]["crop"] and x["meta"]["first_frame"] == y["meta"]["first_frame"]
        for fa, fb in zip([x["blur"], *x["frames"]], [y["blur"], *y["frames"]], strict=False):
            assert (a / fa).read_bytes() == (b / fb).read_bytes()


def test_natural_sort_and_gopro_layout(tmp_path: Path) -> None:
    assert sorted(["frame_10.png", "frame_2.png", "frame_1.png"], key=natural_key) == [
        "frame_1.png",
        "frame_2.png",
        "frame_10.png",
    ]
    frames = translating(12)
    # GoPro_Large: train|test/SCENE/sharp/*.png; names without zero padding must still sort 2 < 10
    write_frames(tmp_path / "gopro" / "train" / "A" / "sharp", frames, name="{}.png")
    write_frames(tmp_path / "gopro" / "test" / "B" / "sharp", frames[:7], name="{}.png")
    root, n = synthesize_video(
        tmp_path / "gopro", tmp_path / "ds", settings=VideoSettings(frames=7, stride=5, size=0, split="train")
    )
    recs = load(root)
    assert n == 2 and [r["meta"]["first_frame"] for r in recs] == [0, 5]
    second = np.stack([read_image(root / f) for f in recs[1]["frames"]])
    np.testing.assert_allclose(second[-1], frames[11] / 255.0, atol=1e-6)
    root, n = synthesize_video(
        tmp_path / "gopro", tmp_path / "ds_test", settings=VideoSettings(frames=7, size=0, split="test")
    )
    assert n == 1 and load(root)[0]["meta"]["clip"] == "B"


def test_corrupt_frame_skips_only_its_windows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = write_frames(tmp_path / "long", translating(21))
    good = (src / "frame_9.png").read_bytes()
    (src / "frame_9.png").write_bytes(good[: len(good) // 2])  # truncated in the middle of the clip
    root, written = synthesize_video(src, tmp_path / "ds", settings=VideoSettings(frames=7, stride=7, size=0))
    assert written == 2 and [r["meta"]["first_frame"] for r in load(root)] == [0, 14]
    assert "frame_9.png" in capsys.readouterr().err


@pytest.mark.parametrize(
    "case, message",
    [
        ("short", "clip has 4 frames; --frames 7 needs at least 7"),
        ("sizes", "frames of differing sizes"),
        ("broken_video", "not a readable video"),
        ("crop", "larger than its 64x64 frames"),
        ("empty", "empty"),
    ],
)
def test_bad_inputs_are_one_line(case: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    size = "256" if case == "crop" else "0"
    if case == "short":
        src = write_frames(tmp_path / "src", translating(4))
    elif case == "sizes":
        src = write_frames(tmp_path / "src", translating(7))
        Image.fromarray(WIDE[:32, :32]).save(src / "frame_3.png")
    elif case == "broken_video":
        src = tmp_path / "clip.mp4"
        src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    elif case == "crop":
        src = write_frames(tmp_path / "src", translating(7))
    else:
        src = tmp_path / "src"
        src.mkdir()
    code = main(["synth", "video", "--source", str(src), "--out", str(tmp_path / "out"), "--size", size])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_rerun_says_how_many_samples_the_dataset_holds(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A rerun of a finished dataset said 'wrote 0 samples' and nothing else."""
    src = write_frames(tmp_path / "src", translating(10))
    argv = ["synth", "video", "--source", str(src), "--out", str(tmp_path / "out"), "--frames", "3", "--size", "16"]
    assert main([*argv, "--quiet"]) == 0
    assert "wrote 3 samples (3 in total) to " in capsys.readouterr().out
    assert main([*argv, "--quiet"]) == 0
    assert "wrote 0 samples (3 in total) to " in capsys.readouterr().out


def test_split_on_a_source_without_splits_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--split test on a plain folder of clips used every clip, as if it were the test split."""
    src = write_frames(tmp_path / "src" / "clip", translating(7))
    code = main(["synth", "video", "--source", str(src.parent), "--out", str(tmp_path / "out"), "--split", "test"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--split test: " in err[0] and "has no train/ or test/ folder" in err[0]
    assert not (tmp_path / "out").exists()


def test_shards_and_resume_match_one_run(tmp_path: Path) -> None:
    src = write_frames(tmp_path / "src", translating(20))
    settings = VideoSettings(frames=5, stride=2, size=24, crops_per_window=2, seed=1)
    one, _ = synthesize_video(src, tmp_path / "one", samples=10, settings=settings)
    for shard in ("0/2", "1/2"):
        synthesize_video(src, tmp_path / "sharded", samples=10, settings=settings, shard=shard)
    assert (one / "index.jsonl").read_bytes() == (tmp_path / "sharded" / "index.jsonl").read_bytes()
    with pytest.raises(Blur2VideoError, match="only 16 windows"):
        synthesize_video(src, tmp_path / "too_many", samples=17, settings=settings)
