"""blur2video: restore the short sharp video hidden in a single motion-blurred photograph.

Public API: ``Restorer`` (restore frames and motion from a blurred photo), ``RestoredVideo`` (its
result, ``.save(folder)`` writes what ``blur2video restore`` writes), ``restore_video`` (every
frame of a blurred video, into one video at N times its frame rate), ``load_model`` (any
checkpoint), ``synthesize_rotation`` (camera-rotation blur datasets) and ``Blur2VideoError``.
Each is imported on first use, so ``import blur2video`` and ``blur2video --help`` load neither
torch nor the synthesizers: a command pays only for what it runs.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import Blur2VideoError

if TYPE_CHECKING:
    from .checkpoints import load_model
    from .outputs import RestoredVideo
    from .restore import Restorer
    from .synth.api import synthesize_rotation
    from .video import VideoSummary, restore_video

_LAZY = {
    "Restorer": "restore",
    "RestoredVideo": "outputs",
    "VideoSummary": "video",
    "load_model": "checkpoints",
    "restore_video": "video",
    "synthesize_rotation": "synth.api",
}

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
    """Import a public name's module when the name is first asked for (PEP 562)."""
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
