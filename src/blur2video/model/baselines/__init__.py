"""Comparators of the paper, built from the same blocks and trained by the same loop."""

from .jin import JinSequential

__all__ = ["JinSequential"]
