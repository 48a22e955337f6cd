"""Representations: notes <-> model frames. They know nothing about models."""

from .keys import estimate_key, normalize_key, transpose_piece
from .pianoroll import PianoRoll, PianoRollConfig, from_pianoroll, make_consistent, to_pianoroll

__all__ = [
    "PianoRoll",
    "PianoRollConfig",
    "estimate_key",
    "from_pianoroll",
    "make_consistent",
    "normalize_key",
    "to_pianoroll",
    "transpose_piece",
]
