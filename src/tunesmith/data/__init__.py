"""Datasets: prepared once, cached, windowed, batched."""

from .batches import sequence_batches, training_batches, transpose_frames, window_starts
from .prepare import BUILTIN_CORPORA, SPLITS, PreparedData, prepare_data
from .splits import melody_signature, split_by_melody

__all__ = [
    "BUILTIN_CORPORA",
    "PreparedData",
    "SPLITS",
    "melody_signature",
    "prepare_data",
    "sequence_batches",
    "split_by_melody",
    "training_batches",
    "transpose_frames",
    "window_starts",
]
