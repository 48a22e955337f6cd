"""Datasets: prepared once, cached, windowed, batched."""

from .batches import sequence_batches, training_batches, window_starts, windows_in_turn, with_start
from .dataset import AUDIO_CORPORA, BUILTIN_CORPORA, NOTE_CORPORA, SPLITS, PreparedData
from .prepare import prepare_data
from .splits import melody_signature, split_by_melody, split_groups

__all__ = [
    "AUDIO_CORPORA",
    "BUILTIN_CORPORA",
    "NOTE_CORPORA",
    "PreparedData",
    "SPLITS",
    "melody_signature",
    "prepare_data",
    "sequence_batches",
    "split_by_melody",
    "split_groups",
    "training_batches",
    "window_starts",
    "windows_in_turn",
    "with_start",
]
