"""Restoring a blurred video (issue 22 item 6): N sub-frames per frame at N times the frame rate,
streamed, in one time order, with the seams between frames blended; bad files get one line."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import imageio.v2 as imageio
import numpy as np
import pytest
import skimage.data

from blur2video import Blur2VideoError, Restorer, restore_video
from blur2video import video as video_module
from blur2video.cli import main
from blur2video.video import sharp_frames

FPS = 10
SIZE = (64, 96)


@pytest.fixture(scope="module")
def restorer() -> Restorer:
    return Restorer.from_pretrained("cpu")


def blurred_clip(path: Path, frames: int = 6, fps: float = FPS) -> Path:
    """A clip of a camera panning 7 px a frame with the shutter open all the time: each frame is
    the mean of the 7 positions it passed through."""
    source = skimage.data.astronaut().astype(np.float32)
    h, w = SIZE
    writer = imageio.get_writer(path, format="FFMPEG", fps=fps, codec="libx264", quality=9, ffmpeg_log_level="error")
    for t in range(frames):
        views = [source[200 : 200 + h, 150 + 7 * t + k : 150 + 7 * t + k + w] for k in range(7)]
        writer.append_data(np.mean(views, axis=0).round().astype(np.uint8))
    writer.close()
    return path


def frames_and_fps(path: Path) -> tuple[int, float]:
    reader = imageio.get_reader(path, format="FFMPEG")
    try:
        return sum(1 for _ in reader), float(reader.get_meta_data()["fps"])
    finally:
        reader.close()


def test_a_clip_becomes_one_video_at_n_times_the_frame_rate(
    restorer: Restorer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    clip = blurred_clip(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    assert main(["restore", str(clip), "--out", str(out)]) == 0
    assert frames_and_fps(out / "clip" / "clip.mp4") == (6 * 7, 7.0 * FPS)
    assert sorted(p.name for p in out.rglob("*")) == ["clip", "clip.mp4"]  # nothing else, nothing half-written
    assert "6 frames at 10 fps -> 42 at 70 fps" in capsys.readouterr().out


def test_photo_flags_given_with_a_video_get_a_note(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--format gif with a video wrote its MP4 as if the flag were not there."""
    clip = blurred_clip(tmp_path / "clip.mp4", frames=2, fps=30)
    assert main(["restore", str(clip), "--out", str(tmp_path / "out"), "--format", "gif", "--pingpong"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("blur2video: note:")]
    note = "--format gif --pingpong: for photos; a video becomes OUT/NAME/NAME.mp4, N sub-frames per frame"
    assert notes == [f"blur2video: note: {note}"]
    assert (tmp_path / "out" / "clip" / "clip.mp4").is_file()


def test_the_python_api_writes_the_video_whole(restorer: Restorer, tmp_path: Path) -> None:
    clip = blurred_clip(tmp_path / "clip.mp4", frames=3, fps=30)
    summary = restore_video(restorer, clip, tmp_path / "sharp" / "sharp.mp4")
    assert (summary.frames_in, summary.frames_out, summary.fps_in, summary.fps_out) == (3, 21, 30.0, 210.0)
    assert summary.destination == tmp_path / "sharp" / "sharp.mp4"
    assert frames_and_fps(summary.destination) == (21, 210.0)
    assert [p.name for p in (tmp_path / "sharp").iterdir()] == ["sharp.mp4"]  # the temporary file was renamed
    with pytest.raises(Blur2VideoError, match=r"sharp\.gif: give a destination ending in \.mp4"):
        restore_video(restorer, clip, tmp_path / "sharp.gif")


def test_frames_are_streamed_one_ahead(restorer: Restorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading is lazy: when the k-th sub-frame is written, at most k // N + 2 blurred frames have
    been decoded (the one being restored and one read ahead), whatever the clip's length."""
    clip = blurred_clip(tmp_path / "clip.mp4", frames=5)
    pulled, seen_at_write = [0], []
    read, open_writer = video_module._read_frames, video_module._open_writer

    def counting_reader(reader, source):
        for frame in read(reader, source):
            pulled[0] += 1
            yield frame

    def recording_writer(path, fps):
        writer = open_writer(path, fps)
        append = writer.append_data
        writer.append_data = lambda frame: seen_at_write.append(pulled[0]) or append(frame)
        return writer

    monkeypatch.setattr(video_module, "_read_frames", counting_reader)
    monkeypatch.setattr(video_module, "_open_writer", recording_writer)
    restore_video(restorer, clip, tmp_path / "sharp.mp4")
    assert len(seen_at_write) == 35
    assert all(pulled <= k // 7 + 2 for k, pulled in enumerate(seen_at_write, 1)), seen_at_write
    assert seen_at_write[0] == 2 and seen_at_write[-1] == 5


class _Reversing:
    """A stand-in restorer with N = 3 whose 'sharp' sub-frame j of blurred frame t is the flat
    image (3t + j) / 100, returned backwards for every odd t, as a restore is free to."""

    frames = 3

    def restore(self, frame: np.ndarray, max_pixels: int, fit_motion: bool = True) -> SimpleNamespace:
        t = int(frame[0, 0, 0])
        subs = np.stack([np.full((4, 4, 3), (3 * t + j) / 100, np.float32) for j in range(3)])
        return SimpleNamespace(frames=subs[::-1].copy() if t % 2 else subs)


def test_each_frame_continues_the_time_order_of_the_one_before() -> None:
    blurred = (np.full((4, 4, 3), t, np.uint8) for t in range(4))
    turned: list[int] = []
    out = [float(f[0, 0, 0]) * 100 for f in sharp_frames(_Reversing(), blurred, seam_blend=0.0, reversed_frames=turned)]
    np.testing.assert_allclose(out, range(12), atol=1e-4)
    assert turned == [1, 3]


def test_the_seam_between_two_frames_is_blended() -> None:
    """Sub-frames 2 | 3 meet at a seam; a quarter of each goes into the other, halving the step."""
    blurred = (np.full((4, 4, 3), t, np.uint8) for t in range(2))
    out = [float(f[0, 0, 0]) * 100 for f in sharp_frames(_Reversing(), blurred, seam_blend=0.25)]
    np.testing.assert_allclose(out, [0, 1, 2.25, 2.75, 4, 5], atol=1e-4)


def test_sharp_frames_pull_one_blurred_frame_at_a_time() -> None:
    pulled = [0]

    def blurred():
        for t in range(4):
            pulled[0] += 1
            yield np.full((4, 4, 3), t, np.uint8)

    for k, _ in enumerate(sharp_frames(_Reversing(), blurred()), 1):
        assert pulled[0] <= k // 3 + 1


def _cut(clip: Path, path: Path) -> Path:
    data = clip.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_bad_videos_get_one_line_and_the_rest_is_restored(
    restorer: Restorer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    good = blurred_clip(tmp_path / "good.mp4", frames=2)
    (tmp_path / "text.mp4").write_text("not a video")
    (tmp_path / "empty.mov").write_bytes(b"")
    blurred_clip(tmp_path / "one.mp4", frames=1)
    _cut(good, tmp_path / "cut.mp4")
    bad = {
        "missing.mp4": "no such file",
        "text.mp4": "not a readable video",
        "empty.mov": "file is empty",
        "one.mp4": "has one frame, a video needs two or more",
        "cut.mp4": "not a readable video",
    }
    out = tmp_path / "out"
    assert main(["restore", *[str(tmp_path / name) for name in bad], str(good), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    err = [line for line in lines if not line.startswith("restore")]  # less the step lines (test_progress.py)
    assert len(err) == len(bad)
    for (name, reason), line in zip(bad.items(), err, strict=True):
        assert line.startswith(f"blur2video: error: {tmp_path / name}: {reason}"), line
    assert sorted(p.name for p in out.iterdir()) == ["good"]
    assert frames_and_fps(out / "good" / "good.mp4") == (14, 70.0)


def test_a_seam_blend_outside_0_to_half_is_refused_before_reading(restorer: Restorer, tmp_path: Path) -> None:
    with pytest.raises(Blur2VideoError, match="seam_blend 0.7: give a share from 0"):
        restore_video(restorer, tmp_path / "missing.mp4", tmp_path / "sharp.mp4", seam_blend=0.7)
