"""Objective scores of a model on held-out music.

``nll``: negative log-likelihood in nats per scored frame: each sequence's frames after the
first are predicted from the frames before them, summed over the frame's features, and the
total over a split is divided by its number of scored frames (Boulanger-Lewandowski et al.).
"""

from __future__ import annotations

import numpy as np
import torch

from .data.batches import sequence_batches
from .models import SequenceModel


@torch.no_grad()
def nll_sums(
    model: SequenceModel,
    sequences: list[np.ndarray],
    *,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    score_first: bool = False,
) -> tuple[float, int]:
    """``(total negative log-likelihood, scored frames)`` over ``sequences`` of ``shape=(T, D)``."""
    was_training = model.training
    model.eval()
    total, frames = 0.0, 0
    for batch in sequence_batches(sequences, batch_size=batch_size, score_first=score_first):
        batch = {k: v.to(device) for k, v in batch.items()}
        log_prob = model.log_prob(batch)
        total -= float((log_prob * batch["mask"]).sum())
        frames += int(batch["mask"].sum())
    model.train(was_training)
    return total, frames


def frame_nll(model: SequenceModel, sequences: list[np.ndarray], **kwargs: object) -> float:
    """Mean negative log-likelihood per scored frame (nats); see ``nll_sums``."""
    total, frames = nll_sums(model, sequences, **kwargs)  # type: ignore[arg-type]
    if frames == 0:
        raise ValueError("no frames to score: every sequence is shorter than two frames")
    return total / frames
