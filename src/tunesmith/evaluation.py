"""Objective scores of a model on held-out music.

``nll``: negative log-likelihood in nats per scored frame: each sequence's frames after the
first are predicted from the frames before them, summed over the frame's features, and the
total over a split is divided by its number of scored frames (Boulanger-Lewandowski et al.).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .data.batches import sequence_batches
from .errors import ConfigError, DataError
from .models import SequenceModel
from .models.base import next_frame

if TYPE_CHECKING:
    from .run import Run


@torch.no_grad()
def nll_sums(
    model: SequenceModel,
    sequences: list[np.ndarray],
    *,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    score_first: bool = False,
    start: np.ndarray | None = None,
) -> tuple[float, int]:
    """``(total negative log-likelihood, scored frames)`` over ``sequences`` of ``shape=(T, D)``,
    each read after the ``start`` frame (the representation's silence; zeros by default)."""
    was_training = model.training
    model.eval()
    total, frames = 0.0, 0
    for batch in sequence_batches(sequences, batch_size=batch_size, score_first=score_first, start=start):
        batch = {k: v.to(device) for k, v in batch.items()}
        mask = next_frame(batch)[2]
        total -= float((model.log_prob(batch) * mask).sum())
        frames += int(mask.sum())
    model.train(was_training)
    return total, frames


def frame_nll(model: SequenceModel, sequences: list[np.ndarray], **kwargs: object) -> float:
    """Mean negative log-likelihood per scored frame (nats); see ``nll_sums``."""
    total, frames = nll_sums(model, sequences, **kwargs)  # type: ignore[arg-type]
    if frames == 0:
        raise DataError("sequences", "no frames to score: every sequence is shorter than two frames")
    return total / frames


def evaluate_run(
    run: Run,
    *,
    data: str | None = None,
    split: str = "test",
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, object]:
    """Score a trained ``run`` on one split of a dataset: the standard frame NLL.

    ``data`` is anything ``data.source`` accepts (a ``.mat``/``.pickle`` benchmark, a folder, a
    built-in corpus); by default the run's own training source. The data is read with the run's
    representation and, for folders and corpora, split the way training split it; every piece of
    the split is scored. Returns ``{"nll", "frames", "sequences", ...}`` (nats per scored frame);
    for a model without a likelihood (a GAN, an autoencoder), ``{"metrics": {...}, ...}`` with
    its own validation metrics instead (an autoencoder's reconstruction error, a VAE's bound).
    """
    from dataclasses import replace

    from .config import config_from_dict
    from .data import SPLITS, prepare_data

    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    data_config = config_from_dict(run.config).data
    data_config = replace(data_config, source=data or data_config.source, max_pieces=0)
    prepared = prepare_data(data_config, run.representation, progress=progress)
    sequences = prepared.splits[split]
    device = next(run.model.parameters()).device
    start = run.representation.silence()
    result = {
        "run": str(run.path),
        "model": run.model.name,
        "representation": run.representation.name,
        "data": data_config.source,
        "split": split,
        "sequences": len(sequences),
        "epoch": run.info.get("epoch"),
    }
    if not sequences:
        raise DataError(data_config.source, f"the {split} split is empty")
    if not run.model.likelihood:  # a GAN or autoencoder: the model's own validation metrics
        from .training.trainer import validation_metrics

        torch.manual_seed(0)  # metrics that draw noise (a GAN's samples) are repeatable
        metrics = validation_metrics(run.model, sequences, batch_size=batch_size, start=start, device=device)
        return {**result, "metrics": metrics}
    total, frames = nll_sums(run.model, sequences, batch_size=batch_size, device=device, start=start)
    if frames == 0:
        raise DataError(data_config.source, f"the {split} split has no frames to score")
    return {**result, "nll": total / frames, "frames": frames}
