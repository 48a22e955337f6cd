"""Batches of frames for the model: random training windows, and whole padded sequences.

Every sequence is read with a silent frame in front: the model sees frames ``0..t-1`` (plus
that start frame) and predicts frame ``t``. A batch is a dict of tensors:
``inputs`` and ``targets`` ``shape=(B, L, D)``, and ``mask`` ``shape=(B, L)`` (1 where scored).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

Batch = dict[str, torch.Tensor]


def _with_start(frames: np.ndarray) -> np.ndarray:
    """``shape=(T, D)`` -> ``shape=(T + 1, D)`` with a silent start frame in front."""
    return np.concatenate([np.zeros((1, frames.shape[1]), frames.dtype), frames])


def window_starts(lengths: list[int], seq_len: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``(sequence, start)`` pairs tiling every sequence with windows of ``seq_len`` frames.

    A random phase per sequence moves the window borders from one epoch to the next.
    """
    windows = []
    for index, length in enumerate(lengths):
        phase = int(rng.integers(seq_len))
        starts = sorted({max(0, s) for s in range(-phase, length, seq_len)})
        windows += [(index, s) for s in starts]
    return windows


def transpose_frames(frames: np.ndarray, shift: int, keys: int) -> np.ndarray:
    """Shift every channel of ``frames`` ``shape=(L, C * keys)`` by ``shift`` keys (zero fill)."""
    if shift == 0:
        return frames
    channels = frames.reshape(len(frames), -1, keys)
    out = np.zeros_like(channels)
    if shift > 0:
        out[:, :, shift:] = channels[:, :, :-shift]
    else:
        out[:, :, :shift] = channels[:, :, -shift:]
    return out.reshape(frames.shape)


def _random_shift(window: np.ndarray, keys: int, limit: int, rng: np.random.Generator) -> int:
    """A shift in ``[-limit, limit]`` that keeps every sounding key of ``window`` in range."""
    active = np.flatnonzero(window.reshape(len(window), -1, keys).any(axis=(0, 1)))
    if not len(active) or limit <= 0:
        return 0
    low, high = max(-limit, -int(active[0])), min(limit, keys - 1 - int(active[-1]))
    return int(rng.integers(low, high + 1))


def training_batches(
    sequences: list[np.ndarray],
    windows: list[tuple[int, int]],
    *,
    seq_len: int,
    batch_size: int,
    keys: int,
    transpose: int = 0,
    rng: np.random.Generator,
) -> Iterator[Batch]:
    """Yield batches of the given windows, in the order given, padded to ``seq_len``."""
    for first in range(0, len(windows), batch_size):
        rows = []
        for index, start in windows[first : first + batch_size]:
            padded = _with_start(sequences[index])[start : start + seq_len + 1]
            if transpose:
                padded = transpose_frames(padded, _random_shift(padded, keys, transpose, rng), keys)
            rows.append(padded)
        yield _stack(rows, seq_len)


def sequence_batches(sequences: list[np.ndarray], *, batch_size: int, score_first: bool = False) -> Iterator[Batch]:
    """Whole sequences, similar lengths together, padded and masked.

    The first frame of each sequence is not scored unless ``score_first`` (the benchmark rule).
    """
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    for first in range(0, len(order), batch_size):
        chunk = [sequences[i] for i in order[first : first + batch_size]]
        batch = _stack([_with_start(frames) for frames in chunk], max(len(x) for x in chunk))
        if not score_first:
            batch["mask"][:, 0] = 0.0
        yield batch


def _stack(rows: list[np.ndarray], length: int) -> Batch:
    """Batch rows that each start with the silent frame, ``shape=(n + 1, D)``: inputs are frames
    ``0..n-1``, targets ``1..n``, padded to ``length`` with the mask 0 on padding."""
    width = rows[0].shape[1]
    inputs = np.zeros((len(rows), length, width), np.float32)
    targets = np.zeros_like(inputs)
    mask = np.zeros((len(rows), length), np.float32)
    for row, padded in enumerate(rows):
        n = len(padded) - 1
        inputs[row, :n], targets[row, :n], mask[row, :n] = padded[:-1], padded[1:], 1.0
    return {"inputs": torch.from_numpy(inputs), "targets": torch.from_numpy(targets), "mask": torch.from_numpy(mask)}
