"""blur2video: restore the short sharp video hidden in a single motion-blurred photograph.

Public API: ``Restorer`` (restore frames and motion from a blurred photo), ``restore_video`` (every
frame of a blurred video, into one video at N times its frame rate), ``load_model``
(any checkpoint), ``synthesize_rotation`` (camera-rotation blur datasets) and ``Blur2VideoError``.
``synthesize_rotation`` is imported on first use: restoring a photo needs none of the synthesizers.
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .checkpoints import load_model
from .errors import Blur2VideoError
from .restore import RestoredVideo, Restorer
from .video import VideoSummary, restore_video

if TYPE_CHECKING:
    from .synth.api import synthesize_rotation

__all__ = [
    "Blur2VideoError",
    "RestoredVideo",
    "Restorer",
    "VideoSummary",
    "load_model",
    "restore_video",
    "synthesize_rotation",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import the synthesizers only when ``blur2video.synthesize_rotation`` is first asked for."""
    if name == "synthesize_rotation":
        from .synth.api import synthesize_rotation

        return synthesize_rotation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
