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
