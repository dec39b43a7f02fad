"""blur2video: restore the short sharp video hidden in a single motion-blurred photograph.

Public API: ``Restorer`` (restore frames and motion from a blurred photo), ``load_model``
(any checkpoint), ``synthesize_rotation`` (camera-rotation blur datasets) and ``Blur2VideoError``.
"""

__version__ = "0.1.0"

from .checkpoints import load_model  # noqa: E402
from .errors import Blur2VideoError  # noqa: E402
from .restore import RestoredVideo, Restorer  # noqa: E402
from .synth.api import synthesize_rotation  # noqa: E402

__all__ = ["Blur2VideoError", "RestoredVideo", "Restorer", "load_model", "synthesize_rotation", "__version__"]
