"""Training an ``ensemble`` model: one run per member, then one checkpoint holding them all.

Each member trains as a run of its own (``OUT/members/<i>``) with seed ``train.seed + i``, so the
members differ in initialization, window order, augmentation and dropout, and each keeps the
epoch that was best on validation. Members trained side by side on the same batches differ less
and average less well: on JSB Chorales, two LSTMs trained jointly scored 8.140 test NLL, two
trained as separate runs 8.103 (see the README's benchmark section).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path

from ..config import ExperimentConfig, build_dataclass, save_config
from ..data import prepare_data
from ..errors import CheckpointError
from ..evaluation import nll_sums
from ..models import build_model
from ..models.ensemble import EnsembleConfig
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import init_distributed, shutdown_distributed
from .trainer import TrainResult, train

log = logging.getLogger("tunesmith.training")


def member_config(config: ExperimentConfig, index: int) -> ExperimentConfig:
    """The run that trains member ``index``: the member's model options and seed ``seed + index``."""
    options = build_dataclass(EnsembleConfig, {k: v for k, v in config.model.items() if k != "name"}, prefix="model")
    seed = config.train.seed + index
    return replace(config, model=options.member_section(), train=replace(config.train, seed=seed))


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
        count = config.model["members"]
        results = []
        for index in range(count):
            member_dir = members_dir / str(index)
            started = (member_dir / "checkpoints" / "last.pt").exists()
            log.info("ensemble member %d of %d -> %s", index + 1, count, member_dir)
            results.append(train(member_config(config, index), member_dir, resume=started, progress=progress))
        best_valid = _combine(config, run_dir, results) if ctx.is_main else 0.0
        (best_valid,) = ctx.sum(best_valid)  # rank 0's score, on every process
        ctx.barrier()
    finally:
        shutdown_distributed(ctx)
    return TrainResult(
        run_dir,
        best_valid,
        max(r.best_epoch for r in results),
        max(r.epochs for r in results),
        sum(r.steps for r in results),
        sum(r.seconds for r in results),
        ", ".join(sorted({r.stopped for r in results})),
        sum(r.frames for r in results),
        members=len(results),
    )


def _combine(config: ExperimentConfig, run_dir: Path, results: list[TrainResult]) -> float:
    """Load each member's best weights into one model, score it on validation, write best.pt."""
    data = prepare_data(config.data, config.representation, progress=False)
    ensemble = build_model(config.model, config.representation.n_features)
    for index, member in enumerate(ensemble.members):
        best = load_checkpoint(run_dir / "members" / str(index) / "checkpoints" / "best.pt")
        member.load_state_dict(best["state_dict"])
    valid = data.splits["valid"] or data.splits["train"]
    total, frames = nll_sums(ensemble, valid, batch_size=config.data.batch_size)
    best_valid = total / max(frames, 1)
    log.info("ensemble: valid nll %.4f; members %s", best_valid, [round(r.best_valid_nll, 4) for r in results])
    save_config(config, run_dir / "config.yaml")
    members = [
        {"seed": config.train.seed + i, "best_valid_nll": r.best_valid_nll, "best_epoch": r.best_epoch}
        for i, r in enumerate(results)
    ]
    payload = {
        "model": ensemble.spec(),
        "representation": asdict(config.representation),
        "qpm": data.qpm,
        "config": config.to_dict(),
        "state_dict": ensemble.state_dict(),
        "epoch": max(r.epochs for r in results),
        "step": sum(r.steps for r in results),
        "best_valid_nll": best_valid,
        "best_epoch": max(r.best_epoch for r in results),
        "members": members,
    }
    save_checkpoint(run_dir / "checkpoints" / "best.pt", payload)
    return best_valid
