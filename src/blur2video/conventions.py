"""Conventions every part of blur2video shares (docs/design.md section 2), checked in one place."""

from __future__ import annotations

from .errors import Blur2VideoError


def frame_count_problem(frames: int) -> str | None:
    """Why ``frames`` cannot be N, or None: N is odd so that a middle frame exists (the one a
    deblurrer would restore, and the reference the others' motion is relative to), and at least 3."""
    if frames < 3 or frames % 2 == 0:
        return "the number of frames must be odd and at least 3 (3, 5, 7, 9)"
    return None


def check_frame_count(frames: int, label: str | None = None) -> int:
    """``frames`` when it is a valid N, else a Blur2VideoError whose line starts with ``label``,
    where the number came from (default ``--frames N``, the flag every command takes it by)."""
    problem = frame_count_problem(frames)
    if problem is not None:
        raise Blur2VideoError(f"{label or f'--frames {frames}'}: {problem}")
    return frames


def check_fov(fov_deg: float) -> None:
    """Refuse fields of view a pinhole cannot have (they make tan() blow up or flip sign). Here,
    not with the camera, so that the command line checks ``--fov`` before it loads torch."""
    if not 1.0 < fov_deg < 179.0:
        raise Blur2VideoError(f"field of view {fov_deg} degrees is outside (1, 179); pass --fov between 1 and 179")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> (i, n) with 0 <= i < n: the part of a dataset one synth process writes."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise Blur2VideoError(f"--shard {text}: write it as i/n, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise Blur2VideoError(f"--shard {text}: need 0 <= i < n")
    return i, n
