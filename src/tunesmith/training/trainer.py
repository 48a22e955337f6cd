"""One training loop for every model family.

The loop knows the model only through its contract (``models/base.py``): the model declares
its optimizers, takes one training step on a batch and returns named numbers, and sums named
validation metrics; the run keeps the checkpoint that is best by the metric the model names.
Binary cross-entropy (a Bernoulli head) and Adam are the baseline recipe for piano rolls; a
Gaussian or Laplace head gives the exact likelihood of spectral frames. A loss or validation
score that stops being finite ends the run with a TrainingError naming the step and the likely
cause; the checkpoints written before it stay usable.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from ..config import ExperimentConfig, save_config
from ..data import PreparedData, prepare_data, sequence_batches, training_batches, window_starts, windows_in_turn
from ..errors import CheckpointError, DataError, TrainingError, TunesmithError
from ..models import SequenceModel, build_model
from ..utils import check_output_dir, seed_everything
from .checkpoint import checkpoint_payload, load_checkpoint, save_checkpoint
from .distributed import DistContext, init_distributed, shutdown_distributed
from .logger import RunLogger

log = logging.getLogger("tunesmith.training")

SAMPLE_GAP = "sample_gap"
"""The best metric of a family without a likelihood to validate (the GANs): one minus the
judge's mean overlap (:func:`tunesmith.judge.compare_items`) between ``train.judge_count``
samples of ``train.sample_length`` frames and as many validation windows, computed by the
trainer after every epoch (see ``_Run._sample_gap``). 0: the samples' musical statistics are
spread as the real ones are; 1: nothing in common."""


@dataclass
class TrainResult:
    """What a finished run reached, and why it stopped ("epochs", "early stopping", "time limit").

    ``best_metric`` names the validation metric the run kept its best checkpoint by (``nll``
    for likelihood models) and ``best_value`` is its best value. ``frames``: training frames the
    model learned from (all processes); ``seconds``: wall time of the training loop, validation
    included. For an ensemble, ``members`` counts its runs, and steps, seconds and frames add
    up theirs."""

    run_dir: Path
    best_metric: str
    best_value: float
    best_epoch: int
    epochs: int
    steps: int
    seconds: float
    stopped: str
    frames: int = 0
    members: int = 0

    @property
    def best_valid_nll(self) -> float:
        """The best validation NLL (nats per frame) of a likelihood model."""
        return self.best_value


class _Call(nn.Module):
    """``forward(method, batch)`` runs ``model.<method>(batch)``, so DistributedDataParallel
    can wrap every loss a model's training step asks for."""

    def __init__(self, model: SequenceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, method: str, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return getattr(self.model, method)(batch)


def train_run(
    config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Train the model ``config`` describes; write checkpoints, metrics, TensorBoard logs and a
    loss plot under ``out_dir``. With ``resume``, continue from ``out_dir/checkpoints/last.pt``.

    Works the same in one process or under ``torchrun`` (see ``training.distributed``).
    """
    run_dir = Path(out_dir)
    last_path = run_dir / "checkpoints" / "last.pt"
    if last_path.exists() and not resume:
        raise CheckpointError(
            f"{run_dir} already holds a trained run; pass --resume to continue it or choose a new --out"
        )
    if resume and not last_path.exists():
        raise CheckpointError(f"{last_path}: nothing to resume (no checkpoint in {run_dir})")
    check_output_dir(run_dir)
    ctx = init_distributed(config.train.device)
    try:
        return _Run(config, run_dir, ctx, progress=progress).fit(resume=resume)
    finally:
        shutdown_distributed(ctx)


def load_training_data(
    config: ExperimentConfig, ctx: DistContext | None = None, *, progress: bool
) -> tuple[PreparedData, list[np.ndarray]]:
    """Prepare the data (on rank 0 first: it fills the cache the others then read); return it
    with the sequences to validate on."""
    ctx = ctx or DistContext()
    data = prepare_data(config.data, config.representation, progress=progress) if ctx.is_main else None
    ctx.barrier()
    if data is None:
        data = prepare_data(config.data, config.representation, progress=False)
    if not data.splits["train"]:
        raise DataError(config.data.source, "the training split is empty")
    if ctx.is_main:
        (log.warning if data.skipped else log.info)("data: %s", data.summary())
        if not data.splits["valid"]:
            log.warning("no validation pieces (too few melodies or recordings); validating on the training split")
    return data, data.splits["valid"] or data.splits["train"]


def planned_epochs(config: ExperimentConfig, windows_per_epoch: int) -> int:
    """``train.epochs``, or fewer when ``train.max_steps`` is reached first (rounded up to a whole
    epoch): a large dataset needs fewer passes than a small one for the same number of updates."""
    tc = config.train
    if not tc.max_steps:
        return tc.epochs
    steps_per_epoch = max(1, math.ceil(windows_per_epoch / config.data.batch_size))
    return max(1, min(tc.epochs, math.ceil(tc.max_steps / steps_per_epoch)))


def _scheduler(optimizer: torch.optim.Optimizer, config: ExperimentConfig, epochs: int) -> Any:
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


@torch.no_grad()
def validation_metrics(
    model: SequenceModel,
    sequences: list[np.ndarray],
    *,
    batch_size: int,
    start: np.ndarray | None,
    device: torch.device,
    ctx: DistContext | None = None,
) -> dict[str, float]:
    """The model's named validation metrics over ``sequences`` (this process's share under
    torchrun; summed over all processes): each is a sum over batches divided by its count."""
    ctx = ctx or DistContext()
    was_training = model.training
    model.eval()
    sums: dict[str, list[float]] = {}
    for batch in sequence_batches(sequences[ctx.rank :: ctx.world_size], batch_size=batch_size, start=start):
        batch = {k: v.to(device) for k, v in batch.items()}
        for name, (total, count) in model.validation_sums(batch).items():
            entry = sums.setdefault(name, [0.0, 0.0])
            entry[0] += float(total)
            entry[1] += float(count)
    model.train(was_training)
    names = sorted(sums) or [model.best_metric]
    flat = ctx.sum(*[v for name in names for v in sums.get(name, [0.0, 0.0])])
    return {name: flat[2 * i] / max(flat[2 * i + 1], 1.0) for i, name in enumerate(names)}


class _Run:
    """The state of one training run: model, optimizers, schedules, progress."""

    def __init__(self, config: ExperimentConfig, run_dir: Path, ctx: DistContext, *, progress: bool) -> None:
        self.config, self.run_dir, self.ctx, self.progress = config, run_dir, ctx, progress
        self.last_path, self.best_path = run_dir / "checkpoints" / "last.pt", run_dir / "checkpoints" / "best.pt"

    def fit(self, *, resume: bool) -> TrainResult:
        config, ctx, tc = self.config, self.ctx, self.config.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        self.data, self.valid = load_training_data(config, ctx, progress=self.progress and ctx.is_main)
        self.rep = self.data.representation
        seed_everything(tc.seed)
        model = build_model(config.model, self.rep.n_features, binary=self.rep.binary).to(ctx.device)
        self.model = model
        self.optimizers = model.configure_optimizers(tc)
        self.epochs = planned_epochs(config, len(self._my_windows(1)))
        self.schedulers = {name: _scheduler(opt, config, self.epochs) for name, opt in self.optimizers.items()}
        self.averaged = _weight_average(model, tc.ema)
        self.evaluated = self.averaged.module if self.averaged is not None else model
        self._real_tables: dict[int, list[dict]] = {}  # the judge's statistics of validation windows, by count
        self.state = {
            "epoch": 0,
            "step": 0,
            "best_metric": model.best_metric,
            "best_value": math.inf,
            "best_epoch": 0,
            "bad_epochs": 0,
            "recent": [],  # the last train.select_window validation scores
            "seconds": 0.0,
            "frames": 0,
        }
        if resume:
            self._restore()
        else:
            model.adapt(self.rep)
            mean, std = self.data.marginal()
            model.set_output_prior(
                torch.as_tensor(mean, dtype=torch.float32, device=ctx.device),
                torch.as_tensor(std, dtype=torch.float32, device=ctx.device),
            )
        several = len(self.optimizers) > 1  # two players: each step uses a part of the weights
        call = (
            DistributedDataParallel(_Call(model), find_unused_parameters=several) if ctx.distributed else _Call(model)
        )
        self.call = lambda method, batch: call(method, batch)
        self.logger = RunLogger(self.run_dir, enabled=ctx.is_main)
        if ctx.is_main:
            save_config(config, self.run_dir / "config.yaml")
            self.logger.truncate_after(self.state["epoch"])
            log.info("model %s: %d parameters", model.name, sum(p.numel() for p in model.parameters()))
        try:
            stopped = self._loop()
        finally:
            self.logger.close()
        if ctx.is_main:
            _plot(self.run_dir)
        ctx.barrier()
        s = self.state
        return TrainResult(
            self.run_dir,
            s["best_metric"],
            s["best_value"],
            s["best_epoch"],
            s["epoch"],
            s["step"],
            s["seconds"],
            stopped,
            s["frames"],
        )

    def _restore(self) -> None:
        checkpoint = load_checkpoint(self.last_path, map_location=self.ctx.device)
        model, path = self.model, self.last_path
        saved, wanted = checkpoint["representation"], self.rep.spec()
        changes = _changes(
            "representation", {"name": saved["name"], **saved["params"]}, {"name": wanted["name"], **wanted["params"]}
        )
        spec = model.spec()
        changes += _changes(
            "model",
            {"name": checkpoint["model"]["name"], **checkpoint["model"]["params"]},
            {"name": spec["name"], **spec["params"]},
        )
        if changes or checkpoint["model"] != spec:
            raise CheckpointError(
                f"{path}: cannot resume: the config changed {'; '.join(changes) or 'the frame width'} since this run "
                "started; resume with the run's own config.yaml, or start a new --out"
            )
        model.load_state_dict(checkpoint.get("train_state_dict", checkpoint["state_dict"]))
        if self.averaged is not None:
            if "averaged" not in checkpoint:
                raise CheckpointError(f"{path}: this run was trained without train.ema; resume it without ema")
            self.averaged.load_state_dict(checkpoint["averaged"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(checkpoint["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(checkpoint["schedulers"][name])
        self.state.update({k: v for k, v in checkpoint["progress"].items() if k in self.state})
        log.info("resuming %s after epoch %d", self.run_dir, self.state["epoch"])

    def _my_windows(self, epoch: int) -> list[tuple[int, int]]:
        """This process's windows for ``epoch``: the same shuffle everywhere, an equal share each."""
        config, ctx = self.config, self.ctx
        rng = np.random.default_rng([config.train.seed, epoch])
        lengths = [len(x) for x in self.data.splits["train"]]
        windows = window_starts(lengths, config.data.seq_len, rng, overlap=config.data.overlap)
        order = rng.permutation(len(windows))
        share = len(windows) // ctx.world_size
        return [windows[i] for i in order[ctx.rank :: ctx.world_size][:share]]

    def _loop(self) -> str:
        config, ctx, tc, state = self.config, self.ctx, self.config.train, self.state
        started = time.monotonic() - state["seconds"]
        for epoch in range(state["epoch"] + 1, self.epochs + 1):
            epoch_began = time.monotonic()
            torch.manual_seed(tc.seed * 1_000_003 + epoch * 101 + ctx.rank)  # dropout: reproducible on resume
            train_row = self._train_epoch(epoch)
            valid = validation_metrics(
                self.evaluated,
                self.valid,
                batch_size=config.data.batch_size,
                start=self.rep.silence(),
                device=ctx.device,
                ctx=ctx,
            )
            if state["best_metric"] == SAMPLE_GAP:
                valid[SAMPLE_GAP] = self._sample_gap()
            score = valid.get(state["best_metric"], math.inf)
            if not math.isfinite(score):
                raise TrainingError(
                    f"validation {state['best_metric']} is {score} after epoch {epoch}: the model diverged "
                    f"(train.lr={tc.lr:g} may be too high){self._last_good()}"
                )
            for scheduler in self.schedulers.values():
                scheduler.step(score) if tc.lr_schedule == "plateau" else scheduler.step()
            alerts = self.model.diagnose({**train_row, **{f"valid_{k}": v for k, v in valid.items()}})
            eligible = not any(alerts.get(name) for name in self.model.disqualifies)
            state["recent"] = [*state["recent"], score][-tc.select_window :]
            if eligible:  # the criterion the best checkpoint is chosen by
                score = float(np.mean(state["recent"]))
            # a disqualified epoch is kept only as a stand-in until an eligible one comes (its
            # best value stays infinite), so that a run always has a best checkpoint
            improved = score < state["best_value"] - 1e-6 if eligible else state["best_epoch"] == 0
            if improved:
                state.update(best_value=score if eligible else math.inf, best_epoch=epoch, bad_epochs=0)
            else:
                state["bad_epochs"] += 1
            state["epoch"], state["seconds"] = epoch, time.monotonic() - started
            row = {
                "epoch": epoch,
                "step": state["step"],
                **train_row,
                **{f"valid_{k}": v for k, v in valid.items()},
                **{f"alert_{k}": int(bool(message)) for k, message in alerts.items()},
                "lr": next(iter(self.optimizers.values())).param_groups[0]["lr"],
                "seconds": round(state["seconds"], 2),
            }
            if ctx.is_main:
                self._save(improved)
                self.logger.epoch(row)
                shown = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k.startswith(("train_", "valid_")))
                log.info("epoch %d: %s%s", epoch, shown, " (best)" if improved else "")
                for name, message in alerts.items():
                    if message:
                        log.warning("epoch %d: %s: %s", epoch, name.replace("_", " "), message)
                if tc.sample_every and epoch % tc.sample_every == 0:
                    quality = self._write_samples(epoch)
                    if quality:
                        self.logger.add_to_last_row(quality)
            if tc.patience and state["bad_epochs"] >= tc.patience:
                return "early stopping"
            # stop when another epoch as long as this one would end past the limit: a budget of
            # five minutes means five minutes for a model with long epochs (a GAN's) too
            next_end = state["seconds"] + (time.monotonic() - epoch_began)
            if ctx.any(bool(tc.max_minutes) and next_end > tc.max_minutes * 60):
                return "time limit"
        return "epochs"

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over this process's windows; the frame-weighted mean of each named number
        the training step returned (summed over processes), as ``train_<name>``."""
        config, ctx, tc, state = self.config, self.ctx, self.config.train, self.state
        windows = self._my_windows(epoch)
        batches = training_batches(
            self.data.splits["train"],
            windows,
            seq_len=config.data.seq_len,
            batch_size=config.data.batch_size,
            start=self.rep.silence(),
            augment=self.rep.augmenter(config.data.transpose),
            rng=np.random.default_rng([tc.seed, epoch, ctx.rank, 1]),
        )
        on_device = ({k: v.to(ctx.device) for k, v in b.items()} for b in batches)
        bar = tqdm(
            on_device,
            total=math.ceil(len(windows) / config.data.batch_size),
            desc=f"epoch {epoch}/{self.epochs}",
            disable=not (self.progress and ctx.is_main),
            leave=False,
        )
        self.model.train()
        sums: dict[str, float] = {}
        frames = 0.0
        for batch in bar:
            out = self.model.training_step(batch, self.optimizers, self.call, grad_clip=tc.grad_clip)
            if self.averaged is not None:
                self.averaged.update_parameters(self.model)
            state["step"] += 1
            weight = float(out.get("frames", 1.0))
            values = {k: float(v) for k, v in out.items() if k != "frames"}
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                raise TrainingError(
                    f"train {bad[0]} became {values[bad[0]]} at step {state['step']} (epoch {epoch}): the model "
                    f"diverged; lower train.lr (now {tc.lr:g}) or keep train.grad_clip on{self._last_good()}"
                )
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value * weight
            frames += weight
            bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()})
            self.logger.step(state["step"], values)
        keys = sorted(sums)
        totals = ctx.sum(frames, *[sums[k] for k in keys])
        state["frames"] += int(totals[0])
        return {f"train_{k}": totals[i + 1] / max(totals[0], 1.0) for i, k in enumerate(keys)}

    def _last_good(self) -> str:
        if self.last_path.exists():
            return f"; the last good checkpoint is {self.last_path} (epoch {self.state['epoch']})"
        return "; no checkpoint was written"

    def _save(self, improved: bool) -> None:
        extra = {}
        if self.averaged is not None:  # resuming needs the trained weights and the average's count
            extra = {"train_state_dict": self.model.state_dict(), "averaged": self.averaged.state_dict()}
        payload = checkpoint_payload(
            model=self.model,
            representation=self.rep,
            config=self.config,
            progress=self.state,
            state_dict=self.evaluated.state_dict(),  # the weights to evaluate and generate with
            optimizers=self.optimizers,
            schedulers=self.schedulers,
            meta={"qpm": self.data.qpm},
            **extra,
        )
        if improved:
            save_checkpoint(self.best_path, payload)
        save_checkpoint(self.last_path, payload)

    def _write_samples(self, epoch: int) -> dict[str, float]:
        """A few samples of the current weights in ``samples/epoch-NNN`` (and TensorBoard), and
        their comparison with validation music: ``quality/<metric>`` numbers for the metrics
        file, so a run's generation quality can be followed epoch by epoch (and a collapse seen)."""
        from ..sampling import sample_items

        tc = self.config.train
        try:
            items = sample_items(
                self.evaluated,
                self.rep,
                num=tc.sample_count,
                length=tc.sample_length,
                seed=tc.seed + epoch,
                qpm=self.data.qpm,
            )
            folder = self.run_dir / "samples" / f"epoch-{epoch:03d}"
            for item in items:
                files = self.rep.write(item, folder / item.name, audio=self.rep.domain == "audio", plot=True)
                if "plot" in files:
                    self.logger.image(f"samples/{item.name}", _png(files["plot"]), epoch)
                if self.rep.domain == "audio":
                    self.logger.audio(f"samples/{item.name}", torch.as_tensor(item.samples), epoch, item.sr)
            return self._quality(items)
        except Exception as exc:  # a sample must never cost a training run
            log.warning("could not write samples for epoch %d: %s", epoch, exc)
            return {}

    def _sample_gap(self) -> float:
        """:data:`SAMPLE_GAP` of the current weights: the same seed every epoch (so epochs are
        compared on the same noise) and the same validation windows. Computed by the main
        process; every process gets its value."""
        from ..sampling import piece_name, sample_frames

        tc, gap = self.config.train, 0.0
        if self.ctx.is_main:
            frames = sample_frames(
                self.evaluated,
                num=tc.judge_count,
                length=tc.sample_length,
                seed=tc.seed,
                repair=self.rep.repair,
                start=self.rep.silence(),
            )
            generated = [self.rep.decode(f, name=piece_name(i), qpm=self.data.qpm) for i, f in enumerate(frames)]
            try:
                gap = 1.0 - float(self._judge(generated, real_count=len(generated), n_boot=1)["mean_overlap"])
            except TunesmithError as exc:  # a judge that cannot compare must not end the run
                log.warning("could not judge this epoch's samples (%s counted as 1, the worst): %s", SAMPLE_GAP, exc)
                gap = 1.0
            if not math.isfinite(gap):  # no statistic defined on either set
                gap = 1.0
        return self.ctx.sum(gap)[0]

    def _quality(self, items: list[Any]) -> dict[str, float]:
        """The judge's comparison of ``items`` with as many validation windows."""
        if len(items) < 2:
            return {}
        result = self._judge(items, real_count=max(len(items), 8), n_boot=10)
        return {
            "quality/two_sample_accuracy": result["two_sample_accuracy"]["accuracy"],
            "quality/mean_overlap": result["mean_overlap"],
            "quality/frechet_distance": result["frechet_distance"]["value"],
        }

    def _judge(self, items: list[Any], *, real_count: int, n_boot: int) -> dict[str, Any]:
        """The judge's comparison (:func:`tunesmith.judge.compare_tables`) of generated ``items``
        with ``real_count`` windows of up to ``train.sample_length`` frames of the validation
        pieces: the pieces in turn, each window at an offset drawn with ``train.seed``. Those
        windows are the same every epoch, so they are decoded and described once per run (for
        sound, Griffin-Lim and the clip statistics took about 2.6 s an epoch)."""
        from ..judge import compare_tables
        from ..judge.compare import item_statistics

        tc = self.config.train
        kind = "symbolic" if self.rep.domain == "notes" else "audio"
        if real_count not in self._real_tables:
            rng = np.random.default_rng(tc.seed)
            windows = windows_in_turn(self.valid, real_count, tc.sample_length, rng, min_length=2)
            decode = self.rep.decode
            real = [decode(np.asarray(w), name=f"valid-{i + 1:02d}", qpm=self.data.qpm) for i, w in enumerate(windows)]
            self._real_tables[real_count] = item_statistics(real, kind)
        return compare_tables(
            self._real_tables[real_count], item_statistics(items, kind), kind=kind, seed=tc.seed, n_boot=n_boot
        )


def _png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    image = imread(path)
    return (image[..., :3] * 255).astype(np.uint8) if image.dtype != np.uint8 else image[..., :3]


def _changes(section: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """``["model.name lstm -> gru", ...]``: the options that differ between two sections."""
    keys = list(dict.fromkeys([*before, *after]))
    return [f"{section}.{k} {before.get(k)} -> {after.get(k)}" for k in keys if before.get(k) != after.get(k)]


def _plot(run_dir: Path) -> None:
    from ..plots import plot_loss_curves

    try:
        plot_loss_curves(run_dir / "metrics.csv", run_dir / "loss.png", title=f"training: {run_dir.name}")
    except Exception as exc:  # a plot must never cost a finished run
        log.warning("could not draw the loss curve: %s", exc)
