"""Training an ``ensemble`` model: one run per member, then one checkpoint holding them all.

Each member trains as a run of its own (``OUT/members/<i>``) with its own ``model:`` section, the
ensemble's ``train:`` options and seed ``train.seed + i``, so the members differ in
initialization, window order, augmentation and dropout, and each keeps the epoch that was best
on validation. Members trained side by side on the same batches differ less and average less
well: on JSB Chorales, two LSTMs trained jointly scored 8.140 test NLL, two trained as separate
runs 8.103 (see the README's benchmark section). The members' weights in the pool are then
fitted on the validation split.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ExperimentConfig, save_config
from ..data import prepare_data, sequence_batches
from ..errors import CheckpointError
from ..models import build_model
from ..models.base import next_frame
from ..models.ensemble import Ensemble, model_options, pool_logits
from ..schema import build_dataclass
from ..sections import TrainConfig
from .checkpoint import checkpoint_payload, load_checkpoint, save_checkpoint
from .distributed import init_distributed, shutdown_distributed
from .trainer import TrainResult, train_run

log = logging.getLogger("tunesmith.training")


def member_config(config: ExperimentConfig, index: int, minutes_used: float = 0.0) -> ExperimentConfig:
    """The run that trains member ``index``: the member's model section; the ensemble's ``train:``
    options with seed ``seed + index``, then the member's own ``train:`` overrides. A
    ``train.max_minutes`` budget covers the whole ensemble: the member gets what the members
    before it (``minutes_used``) left."""
    section = config.model["members"][index]
    options = {**asdict(config.train), "seed": config.train.seed + index, **section.get("train", {})}
    train_options = build_dataclass(TrainConfig, options, prefix=f"model.members[{index}].train")
    if config.train.max_minutes:
        left = max(config.train.max_minutes - minutes_used, 1e-3)
        train_options = replace(train_options, max_minutes=min(train_options.max_minutes or left, left))
    return replace(config, model={"name": section["name"], **model_options(section)}, train=train_options)


def train_ensemble(
    config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Train every member (resuming those already started when ``resume``), then write
    ``OUT/checkpoints/best.pt`` with all members' best weights, scored together on validation."""
    run_dir = Path(out_dir)
    members_dir = run_dir / "members"
    if members_dir.exists() and not resume:
        raise CheckpointError(
            f"{run_dir} already holds a trained run; pass --resume to continue it or choose a new --out"
        )
    ctx = init_distributed(config.train.device)  # under torchrun the members share one process group
    try:
        count = len(config.model["members"])
        results = []
        for index in range(count):
            member_dir = members_dir / str(index)
            started = (member_dir / "checkpoints" / "last.pt").exists()
            log.info("ensemble member %d of %d -> %s", index + 1, count, member_dir)
            used = sum(r.seconds for r in results) / 60
            member = member_config(config, index, minutes_used=used)
            results.append(train_run(member, member_dir, resume=started, progress=progress))
        best_valid = _combine(config, run_dir, results) if ctx.is_main else 0.0
        (best_valid,) = ctx.sum(best_valid)  # rank 0's score, on every process
        ctx.barrier()
    finally:
        shutdown_distributed(ctx)
    return TrainResult(
        run_dir,
        "nll",
        best_valid,
        max(r.best_epoch for r in results),
        max(r.epochs for r in results),
        sum(r.steps for r in results),
        sum(r.seconds for r in results),
        ", ".join(sorted({r.stopped for r in results})),
        sum(r.frames for r in results),
        members=len(results),
    )


def fit_pool_weights(ensemble: Ensemble, sequences: list[np.ndarray], *, batch_size: int = 32) -> float:
    """Set the members' weights in the pool to those that minimize the frame NLL of
    ``sequences`` (scored like the benchmark), and return that NLL. The members stay as they
    are; a few numbers are fitted (stacking, Wolpert 1992; Breiman 1996), by L-BFGS on the
    members' logits, computed once."""
    ensemble.eval()
    with torch.no_grad():
        cached = []
        for batch in sequence_batches(sequences, batch_size=batch_size):
            inputs, targets, mask = next_frame(batch)
            cached.append((torch.stack([member(inputs)[0] for member in ensemble.members]), targets, mask))
    frames = sum(float(mask.sum()) for _, _, mask in cached)
    if not frames:
        return 0.0

    def pooled_nll(weight_logits: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(weight_logits, dim=0)
        total = torch.zeros(())
        for logits, targets, mask in cached:
            pooled = pool_logits(logits, ensemble.config.combine, weights)
            bce = F.binary_cross_entropy_with_logits(pooled, targets, reduction="none")
            total = total + (bce.sum(-1) * mask).sum()
        return total / frames

    weight_logits = torch.zeros(len(ensemble.members), requires_grad=True)
    optimizer = torch.optim.LBFGS([weight_logits], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = pooled_nll(weight_logits)
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        ensemble.weight_logits.copy_(weight_logits)
        return float(pooled_nll(weight_logits))


def _combine(config: ExperimentConfig, run_dir: Path, results: list[TrainResult]) -> float:
    """Load each member's best weights into one model, fit its pool weights on validation, write
    best.pt with the validation score."""
    data = prepare_data(config.data, config.representation, progress=False)
    ensemble = build_model(config.model, data.representation.n_features, binary=data.representation.binary)
    for index, member in enumerate(ensemble.members):
        best = load_checkpoint(run_dir / "members" / str(index) / "checkpoints" / "best.pt")
        member.load_state_dict(best["state_dict"])
    valid = data.splits["valid"] or data.splits["train"]
    best_valid = fit_pool_weights(ensemble, valid, batch_size=config.data.batch_size)
    weights = ensemble.weights.tolist()
    log.info(
        "ensemble: valid nll %.4f; members %s, weights %s",
        best_valid,
        [round(r.best_valid_nll, 4) for r in results],
        [round(w, 3) for w in weights],
    )
    save_config(config, run_dir / "config.yaml")
    members = [
        {
            "model": section["name"],
            "seed": member_config(config, i).train.seed,
            "best_valid_nll": r.best_value,
            "best_epoch": r.best_epoch,
            "weight": weight,
        }
        for i, (section, r, weight) in enumerate(zip(config.model["members"], results, weights))
    ]
    progress = {
        "epoch": max(r.epochs for r in results),
        "step": sum(r.steps for r in results),
        "best_metric": "nll",
        "best_value": best_valid,
        "best_epoch": max(r.best_epoch for r in results),
    }
    payload = checkpoint_payload(
        model=ensemble,
        representation=data.representation,
        config=config,
        progress=progress,
        meta={"qpm": data.qpm},
        members=members,
    )
    save_checkpoint(run_dir / "checkpoints" / "best.pt", payload)
    return best_valid
