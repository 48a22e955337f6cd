"""One training loop for every model family.

The trainer asks the model for ``loss(batch) -> {"loss": ...}`` and knows nothing else about
it. Binary cross-entropy (the models' Bernoulli output) and Adam are the baseline recipe.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from ..config import ExperimentConfig, save_config
from ..data import PreparedData, prepare_data, training_batches, window_starts
from ..errors import CheckpointError, DataError
from ..evaluation import nll_sums
from ..models import SequenceModel, build_model
from ..utils import seed_everything
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import DistContext, init_distributed, shutdown_distributed
from .logger import RunLogger

log = logging.getLogger("tunesmith.training")


@dataclass
class TrainResult:
    """What a finished run reached, and why it stopped ("epochs", "early stopping", "time limit").

    ``frames``: training frames the model learned from (all processes); ``seconds``: wall time of
    the training loop, validation included. For an ensemble, ``members`` counts its runs, and
    steps, seconds and frames add up theirs."""

    run_dir: Path
    best_valid_nll: float
    best_epoch: int
    epochs: int
    steps: int
    seconds: float
    stopped: str
    frames: int = 0
    members: int = 0


class _LossOf(nn.Module):
    """Makes ``model.loss`` the forward pass, so DistributedDataParallel can wrap it."""

    def __init__(self, model: SequenceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model.loss(batch)


def _planned_epochs(data: PreparedData, config: ExperimentConfig, ctx: DistContext) -> int:
    """``train.epochs``, or fewer when ``train.max_steps`` is reached first (rounded up to a whole
    epoch): a large dataset needs fewer passes than a small one for the same number of updates."""
    tc = config.train
    if not tc.max_steps:
        return tc.epochs
    steps_per_epoch = math.ceil(len(_my_windows(data, config, 1, ctx)) / config.data.batch_size)
    return max(1, min(tc.epochs, math.ceil(tc.max_steps / steps_per_epoch)))


def _scheduler(
    optimizer: torch.optim.Optimizer, config: ExperimentConfig, epochs: int
) -> torch.optim.lr_scheduler.LRScheduler:
    kind = config.train.lr_schedule
    if kind == "cosine":  # closed form of the epoch, so a resumed run with more epochs stretches it
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: 0.5 * (1 + math.cos(math.pi * min(epoch, epochs) / epochs))
        )
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, config.train.patience // 3)
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def _weight_average(model: SequenceModel, decay: float) -> AveragedModel | None:
    """An exponential moving average of ``model``'s weights (``train.ema``), or None when off.

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after n updates, so the average
    forgets the random initial weights quickly instead of dragging them along for 1 / (1 - decay)
    steps."""
    if not decay:
        return None

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + n) / (10.0 + n)))

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)


def _my_windows(data: PreparedData, config: ExperimentConfig, epoch: int, ctx: DistContext) -> list[tuple[int, int]]:
    """This process's windows for ``epoch``: the same shuffle everywhere, an equal share each."""
    rng = np.random.default_rng([config.train.seed, epoch])
    windows = window_starts([len(x) for x in data.splits["train"]], config.data.seq_len, rng)
    order = rng.permutation(len(windows))
    share = len(windows) // ctx.world_size
    return [windows[i] for i in order[ctx.rank :: ctx.world_size][:share]]


def _check_resumable(checkpoint: dict, model: SequenceModel, path: Path) -> None:
    if checkpoint["model"] != model.spec():
        raise CheckpointError(
            f"{path}: checkpoint is for model {checkpoint['model']['name']} {checkpoint['model']['params']}, "
            f"but the config asks for {model.name} {asdict(model.config)}"
        )


def train(config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train the model ``config`` describes; write checkpoints, metrics, TensorBoard logs and a
    loss plot under ``out_dir``. With ``resume``, continue from ``out_dir/checkpoints/last.pt``.

    Works the same in one process or under ``torchrun`` (see ``training.distributed``). An
    ``ensemble`` trains as one run per member (``training.ensemble``).
    """
    if config.model.get("name") == "ensemble":
        from .ensemble import train_ensemble  # which trains each member through this function

        return train_ensemble(config, out_dir, resume=resume, progress=progress)
    run_dir = Path(out_dir)
    last_path, best_path = run_dir / "checkpoints" / "last.pt", run_dir / "checkpoints" / "best.pt"
    if last_path.exists() and not resume:
        raise CheckpointError(
            f"{run_dir} already holds a trained run; pass --resume to continue it or choose a new --out"
        )
    if resume and not last_path.exists():
        raise CheckpointError(f"{last_path}: nothing to resume (no checkpoint in {run_dir})")
    ctx = init_distributed(config.train.device)
    try:
        return _train(config, run_dir, last_path, best_path, resume=resume, progress=progress, ctx=ctx)
    finally:
        shutdown_distributed(ctx)


def _load_data(config: ExperimentConfig, ctx: DistContext, *, progress: bool) -> tuple[PreparedData, list[np.ndarray]]:
    """Prepare the data on rank 0 first (it fills the cache the others then read); return it
    with the sequences to validate on."""
    data = prepare_data(config.data, config.representation, progress=progress) if ctx.is_main else None
    ctx.barrier()
    if data is None:
        data = prepare_data(config.data, config.representation, progress=False)
    if not data.splits["train"]:
        raise DataError(config.data.source, "the training split is empty")
    if ctx.is_main:
        (log.warning if data.skipped else log.info)("data: %s", data.summary())
        if not data.splits["valid"]:
            log.warning("no validation pieces (too few melodies); validating on the training split")
    return data, data.splits["valid"] or data.splits["train"]


def _train_epoch(
    wrapped: nn.Module,
    model: SequenceModel,
    optimizer: torch.optim.Optimizer,
    batches,
    *,
    grad_clip: float,
    state: dict,
    logger: RunLogger,
    averaged: AveragedModel | None,
) -> tuple[float, float]:
    """One pass over ``batches``; returns (summed loss x frames, frames) of this process."""
    model.train()
    loss_sum = frame_sum = 0.0
    for batch in batches:
        out = wrapped(batch)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(model)
        state["step"] += 1
        loss, frames = out["loss"].item(), out["frames"].item()
        loss_sum, frame_sum = loss_sum + loss * frames, frame_sum + frames
        batches.set_postfix(loss=f"{loss:.3f}")
        logger.step(state["step"], loss)
    return loss_sum, frame_sum


def _train(config, run_dir, last_path, best_path, *, resume, progress, ctx: DistContext) -> TrainResult:
    tc = config.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    data, valid = _load_data(config, ctx, progress=progress and ctx.is_main)

    seed_everything(tc.seed)
    model = build_model(config.model, config.representation.n_features).to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    epochs = _planned_epochs(data, config, ctx)
    scheduler = _scheduler(optimizer, config, epochs)
    averaged = _weight_average(model, tc.ema)
    evaluated = averaged.module if averaged is not None else model  # what validation and best.pt see
    state = {
        "epoch": 0,
        "step": 0,
        "best_valid_nll": math.inf,
        "best_epoch": 0,
        "bad_epochs": 0,
        "seconds": 0.0,
        "frames": 0,
    }
    if not resume:
        frequencies = np.concatenate(data.splits["train"]).mean(axis=0, dtype=np.float64)
        model.set_output_prior(torch.as_tensor(frequencies, dtype=torch.float32, device=ctx.device))
    else:
        checkpoint = load_checkpoint(last_path, map_location=ctx.device)
        _check_resumable(checkpoint, model, last_path)
        model.load_state_dict(checkpoint.get("train_state_dict", checkpoint["state_dict"]))
        if averaged is not None:
            if "averaged" not in checkpoint:
                raise CheckpointError(f"{last_path}: this run was trained without train.ema; resume it without ema")
            averaged.load_state_dict(checkpoint["averaged"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        state.update({k: checkpoint[k] for k in state if k in checkpoint})
        log.info("resuming %s after epoch %d", run_dir, state["epoch"])
    wrapped: nn.Module = DistributedDataParallel(_LossOf(model)) if ctx.distributed else _LossOf(model)

    logger = RunLogger(run_dir, enabled=ctx.is_main)
    if ctx.is_main:
        save_config(config, run_dir / "config.yaml")
        logger.truncate_after(state["epoch"])
        log.info("model %s: %d parameters", model.name, sum(p.numel() for p in model.parameters()))

    stopped, started = "epochs", time.monotonic() - state["seconds"]
    for epoch in range(state["epoch"] + 1, epochs + 1):
        torch.manual_seed(tc.seed * 1_000_003 + epoch * 101 + ctx.rank)  # dropout: reproducible on resume
        windows = _my_windows(data, config, epoch, ctx)
        batches = training_batches(
            data.splits["train"],
            windows,
            seq_len=config.data.seq_len,
            batch_size=config.data.batch_size,
            keys=config.representation.keys,
            transpose=config.data.transpose,
            rng=np.random.default_rng([tc.seed, epoch, ctx.rank, 1]),
        )
        on_device = ({k: v.to(ctx.device) for k, v in b.items()} for b in batches)
        bar = tqdm(
            on_device,
            total=math.ceil(len(windows) / config.data.batch_size),
            desc=f"epoch {epoch}/{epochs}",
            disable=not (progress and ctx.is_main),
            leave=False,
        )
        loss_sum, frame_sum = ctx.sum(
            *_train_epoch(
                wrapped, model, optimizer, bar, grad_clip=tc.grad_clip, state=state, logger=logger, averaged=averaged
            )
        )
        mine = valid[ctx.rank :: ctx.world_size]
        nll_total, nll_frames = ctx.sum(
            *nll_sums(evaluated, mine, batch_size=config.data.batch_size, device=ctx.device)
        )
        valid_nll = nll_total / max(nll_frames, 1)
        state["frames"] += int(frame_sum)
        if tc.lr_schedule == "plateau":
            scheduler.step(valid_nll)
        else:
            scheduler.step()

        improved = valid_nll < state["best_valid_nll"] - 1e-6
        if improved:
            state.update(best_valid_nll=valid_nll, best_epoch=epoch, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        state["epoch"], state["seconds"] = epoch, time.monotonic() - started
        row = {
            "epoch": epoch,
            "step": state["step"],
            "train_loss": loss_sum / max(frame_sum, 1),
            "valid_nll": valid_nll,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(state["seconds"], 2),
        }
        if ctx.is_main:
            logger.epoch(row)
            payload = {
                "model": model.spec(),
                "representation": asdict(config.representation),
                "qpm": data.qpm,
                "config": config.to_dict(),
                "state_dict": evaluated.state_dict(),  # the weights to evaluate and generate with
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                **state,
            }
            if averaged is not None:  # resuming needs the trained weights and the average's count
                payload.update(train_state_dict=model.state_dict(), averaged=averaged.state_dict())
            if improved:
                save_checkpoint(best_path, payload)
            save_checkpoint(last_path, payload)
            log.info(
                "epoch %d: train loss %.4f, valid nll %.4f%s",
                epoch,
                row["train_loss"],
                valid_nll,
                " (best)" if improved else "",
            )
        if tc.patience and state["bad_epochs"] >= tc.patience:
            stopped = "early stopping"
            break
        if ctx.any(bool(tc.max_minutes) and state["seconds"] >= tc.max_minutes * 60):
            stopped = "time limit"
            break
    logger.close()
    if ctx.is_main:
        _plot(run_dir)
    ctx.barrier()
    return TrainResult(
        run_dir,
        state["best_valid_nll"],
        state["best_epoch"],
        state["epoch"],
        state["step"],
        state["seconds"],
        stopped,
        state["frames"],
    )


def _plot(run_dir: Path) -> None:
    from ..plots import plot_loss_curves

    try:
        plot_loss_curves(run_dir / "metrics.csv", run_dir / "loss.png", title=f"training: {run_dir.name}")
    except Exception as exc:  # a plot must never cost a finished run
        log.warning("could not draw the loss curve: %s", exc)
