"""The network of paper section 4: encoder, middle decoder, FTN/ITN transformers, frame decoders."""

from .config import ModelConfig
from .network import Blur2Video, Restoration

__all__ = ["Blur2Video", "ModelConfig", "Restoration"]
