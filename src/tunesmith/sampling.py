"""Sampling of frames: temperature, top-p, a primer to continue, any length.

Each family draws its frames in ``model.generate``: a next-frame model frame by frame, its
recurrent state carrying the past; a GAN or autoencoder from noise or its latent space.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .errors import ConfigError
from .models import SequenceModel
from .representation import Representation

Repair = Callable[[np.ndarray, np.ndarray], np.ndarray]

MAX_FRAMES = 262_144
"""Most frames one generated piece may hold, primer included: what a piano roll may decode to
(9 hours of sixteenth notes), about 50 minutes of mel frames at 22.05 kHz and hop 256."""
MAX_VALUES = 2**28
"""Most values one call may generate over all pieces (1 GiB of float32)."""


@torch.no_grad()
def sample_frames(
    model: SequenceModel,
    *,
    num: int,
    length: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    primer: np.ndarray | None = None,
    seed: int | None = None,
    repair: Repair | None = None,
    start: np.ndarray | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Draw ``num`` sequences of ``length`` new frames, ``shape=(num, P + length, D)`` float32
    (0/1 values for a binary model).

    The model first reads ``start`` ``shape=(D,)`` (the representation's silent frame; zeros by
    default), then ``primer`` ``shape=(P, D)``, which is returned in front of its continuation.
    ``repair(frame, previous)`` may fix each sampled frame (``shape=(num, D)``) before it is fed
    back, e.g. to keep a representation's channels consistent.
    """
    if num < 1 or length < 1:
        raise ConfigError(f"num and length must be >= 1, got num={num}, length={length}")
    if not (math.isfinite(temperature) and temperature > 0) or not 0 < top_p <= 1:
        raise ConfigError(f"temperature must be a finite number > 0 and top_p in (0, 1]; got {temperature}, {top_p}")
    if not model.generates:
        raise ConfigError(f"model {model.name} does not generate frames: {model.description}")
    device = next(model.parameters()).device
    width = model.n_features
    frames = length + (0 if primer is None else len(primer))
    if frames > MAX_FRAMES:
        raise ConfigError(
            f"a piece of {frames:,} frames is longer than the {MAX_FRAMES:,} one may have; ask for a shorter length"
        )
    if num * frames * width > MAX_VALUES:
        raise ConfigError(
            f"{num:,} pieces of {frames:,} frames of {width} values would hold {num * frames * width:,} values, "
            f"more than the {MAX_VALUES:,} (1 GiB) one generation may make; ask for fewer or shorter pieces"
        )
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
    first = np.zeros((1, width), np.float32) if start is None else np.asarray(start, np.float32).reshape(1, width)
    history = np.zeros((0, width), np.float32) if primer is None else np.asarray(primer, np.float32)
    if history.ndim != 2 or history.shape[1] != width:
        raise ConfigError(f"primer must have shape (P, {width}), got {history.shape}")
    context = torch.from_numpy(np.concatenate([first, history])).to(device)
    was_training = model.training
    model.eval()
    try:
        new = model.generate(
            context,
            num=num,
            length=length,
            temperature=temperature,
            top_p=top_p,
            generator=generator,
            repair=repair,
            progress=progress,
        )
    finally:
        model.train(was_training)
    new = new.float().cpu().numpy()
    return np.concatenate([np.repeat(history[None], num, axis=0), new], axis=1).astype(np.float32)


def sample_items(
    model: SequenceModel,
    representation: Representation,
    *,
    num: int,
    length: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    primer: np.ndarray | None = None,
    seed: int | None = None,
    progress: bool = False,
    **context: Any,
) -> list[Any]:
    """Sample ``num`` sequences of ``length`` new frames (after ``primer`` frames, if any) and
    decode each with ``representation``: Pieces for notes, Clips for audio, named
    ``piece-01``, ``piece-02``, ... ``context`` goes to ``decode`` (``qpm``, ``program``, ``shift``)."""
    frames = sample_frames(
        model,
        num=num,
        length=length,
        temperature=temperature,
        top_p=top_p,
        primer=primer,
        seed=seed,
        repair=representation.repair,
        start=representation.silence(),
        progress=progress,
    )
    return [representation.decode(f, name=piece_name(i), **context) for i, f in enumerate(frames)]


def piece_name(index: int) -> str:
    """The name of the ``index``-th (from 0) generated piece or clip."""
    return f"piece-{index + 1:02d}"
