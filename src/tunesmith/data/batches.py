"""Batches of frames for the model: random training windows, and whole padded sequences.

A batch is a window of frames, the same for every family: ``frames`` ``shape=(B, L + 1, D)``
float32 and ``mask`` ``shape=(B, L + 1)`` (1 where a frame is scored). The first frame of every
row is context only (mask 0): the frame before the window, or the representation's silent
``start`` frame at the beginning of a sequence. A next-frame model shifts by one itself (reads
frames ``0..L-1``, predicts ``1..L``); an autoencoder or a GAN reads the scored frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

Batch = dict[str, torch.Tensor]
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def with_start(frames: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """``shape=(T, D)`` -> ``shape=(T + 1, D)`` float32, with ``start`` (default: zeros) in front."""
    first = np.zeros((1, frames.shape[1]), np.float32) if start is None else np.asarray(start, np.float32)[None]
    return np.concatenate([first, np.asarray(frames, dtype=np.float32)])


def window_starts(
    lengths: list[int], seq_len: int, rng: np.random.Generator, *, overlap: float = 0.0
) -> list[tuple[int, int]]:
    """``(sequence, start)`` pairs tiling every sequence with windows of ``seq_len`` frames,
    consecutive windows sharing ``overlap`` of their frames.

    A random phase per sequence moves the window borders from one epoch to the next.
    """
    stride = max(1, round(seq_len * (1.0 - overlap)))
    windows = []
    for index, length in enumerate(lengths):
        phase = int(rng.integers(stride))
        starts = sorted({max(0, s) for s in range(-phase, length, stride)})
        windows += [(index, s) for s in starts]
    return windows


def windows_in_turn(
    sequences: Sequence[np.ndarray], count: int, length: int, rng: np.random.Generator, *, min_length: int = 1
) -> list[np.ndarray]:
    """``count`` windows of up to ``length`` frames for judging samples against real music: the
    sequences of at least ``min_length`` frames taken in turn, each window at an offset drawn
    from ``rng`` (so a seeded ``rng`` gives the same windows every time); empty when no
    sequence is long enough."""
    usable = [s for s in sequences if len(s) >= min_length]
    windows = []
    for index in range(count if usable else 0):
        piece = usable[index % len(usable)]
        start = int(rng.integers(0, max(len(piece) - length, 0) + 1))
        windows.append(piece[start : start + length])
    return windows


def _window(sequence: np.ndarray, start: int, seq_len: int, start_frame: np.ndarray | None) -> np.ndarray:
    """Frames ``start - 1 .. start + seq_len - 1`` of ``sequence`` (``start_frame`` before frame 0)."""
    if start == 0:
        return with_start(sequence[:seq_len], start_frame)
    return np.asarray(sequence[start - 1 : start + seq_len], dtype=np.float32)


def training_batches(
    sequences: Sequence[np.ndarray],
    windows: list[tuple[int, int]],
    *,
    seq_len: int,
    batch_size: int,
    start: np.ndarray | None = None,
    augment: Augment | None = None,
    rng: np.random.Generator,
) -> Iterator[Batch]:
    """Yield batches of the given windows, in the order given, padded to ``seq_len + 1`` frames.

    ``augment(window, rng)`` may transform each window (transposition, gain)."""
    for first in range(0, len(windows), batch_size):
        rows = []
        for index, begin in windows[first : first + batch_size]:
            window = _window(sequences[index], begin, seq_len, start)
            rows.append(augment(window, rng) if augment is not None else window)
        yield _stack(rows, seq_len + 1)


def sequence_batches(
    sequences: Sequence[np.ndarray],
    *,
    batch_size: int,
    start: np.ndarray | None = None,
    score_first: bool = False,
) -> Iterator[Batch]:
    """Whole sequences, similar lengths together, each after its ``start`` frame, padded and
    masked. The first frame of each sequence is not scored unless ``score_first`` (the
    polyphonic benchmark's rule)."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    for first in range(0, len(order), batch_size):
        chunk = [sequences[i] for i in order[first : first + batch_size]]
        batch = _stack([with_start(frames, start) for frames in chunk], 1 + max(len(x) for x in chunk))
        if not score_first:
            batch["mask"][:, 1] = 0.0
        yield batch


def _stack(rows: list[np.ndarray], length: int) -> Batch:
    """Rows ``shape=(n + 1, D)`` (context frame first) -> a batch padded to ``length`` frames,
    the mask 1 on frames ``1..n``."""
    width = rows[0].shape[1]
    frames = np.zeros((len(rows), length, width), np.float32)
    mask = np.zeros((len(rows), length), np.float32)
    for row, window in enumerate(rows):
        frames[row, : len(window)] = window
        mask[row, 1 : len(window)] = 1.0
    return {"frames": torch.from_numpy(frames), "mask": torch.from_numpy(mask)}
