"""What every GAN family shares: the players' losses, the gradient penalty, label smoothing,
freezing a player that is too far ahead, and the collapse and saturation checks.

A GAN family (``gan.py``, ``specgan.py``) subclasses :class:`AdversarialModel` and supplies its
two players: ``fakes(batch)`` (the generator's windows, as many as the batch holds) with
``real(batch)`` (the windows they are compared with), ``discriminate(frames, present)`` (one score
per window) and, when it pretrains its generator, ``pretrain_loss(batch)``. This class then
runs the two-player game through the trainer's contract: one discriminator update, then one
generator update per batch, each through ``call`` so that torchrun averages the gradients.

Losses (``loss`` option), for scores ``D(x)``:

- ``bce``: the original GAN (Goodfellow et al. 2014), with the non-saturating generator loss
  ``-log sigmoid(D(G(z)))``; one-sided label smoothing puts the real target at 0.9;
- ``hinge``: ``relu(1 - D(x)) + relu(1 + D(G(z)))`` for the discriminator, ``-D(G(z))`` for the
  generator (Lim & Ye 2017; Miyato et al. 2018);
- ``wgan-gp``: the Wasserstein critic ``D(G(z)) - D(x)`` plus ``gp_weight`` times the gradient
  penalty ``(|grad D(x_hat)| - 1)^2`` on random interpolates (Gulrajani et al. 2017).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, Call, SequenceModel

LOSSES = ("bce", "hinge", "wgan-gp")


@dataclass
class AdversarialConfig:
    """The two-player game, shared by the GAN families.

    Attributes:
        loss: ``bce`` (original GAN, non-saturating generator loss), ``hinge`` or ``wgan-gp``
            (Wasserstein critic with gradient penalty).
        gp_weight: weight of the gradient penalty of ``wgan-gp``.
        label_smoothing: one-sided label smoothing of ``bce``: real windows are scored against
            ``1 - label_smoothing`` (0.1 gives the usual 0.9); fakes stay at 0.
        spectral_norm: spectral normalization of the discriminator's weights (Miyato et al.
            2018), which bounds how fast its scores can change.
        minibatch_std: give the discriminator's score the spread of its features over the
            batch (the minibatch standard deviation of Karras et al. 2018), so that a batch of
            near-copies looks fake even when each copy looks real: pressure against collapse.
        g_lr: the generator's learning rate; 0 takes ``train.lr``.
        d_lr: the discriminator's learning rate; 0 takes ``train.lr``.
        freeze_ahead: skip the optimizer step of a player that is too far ahead (C-RNN-GAN):
            the discriminator's when its accuracy on the batch is above this, the generator's
            when that accuracy is below ``1 - freeze_ahead``. 0 turns freezing off; else in
            (0.5, 1).
        feature_matching: weight of feature matching in the generator's loss (Salimans et al.
            2016; C-RNN-GAN): the squared distance between the mean last-layer features of the
            discriminator on real and on generated windows. 0 turns it off.
        d_steps: discriminator updates per batch, each against fresh fakes (WGAN-GP trains its
            critic 5 times per generator update).
        collapse_below: the validation ``diversity`` (spread of generated windows over that of
            real ones) under which the run reports ``mode_collapse``.
    """

    loss: str = "bce"
    gp_weight: float = 10.0
    label_smoothing: float = 0.0
    spectral_norm: bool = False
    minibatch_std: bool = False
    g_lr: float = 0.0
    d_lr: float = 0.0
    freeze_ahead: float = 0.0
    feature_matching: float = 0.0
    d_steps: int = 1
    collapse_below: float = 0.25

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"model.loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        if self.gp_weight < 0:
            raise ConfigError(f"model.gp_weight must be >= 0, got {self.gp_weight}")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"model.label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        for key in ("g_lr", "d_lr"):
            if not getattr(self, key) >= 0:
                raise ConfigError(f"model.{key} must be >= 0 (0: train.lr), got {getattr(self, key)}")
        if self.freeze_ahead and not 0.5 < self.freeze_ahead < 1.0:
            raise ConfigError(f"model.freeze_ahead must be 0 (off) or in (0.5, 1), got {self.freeze_ahead}")
        if self.feature_matching < 0:
            raise ConfigError(f"model.feature_matching must be >= 0, got {self.feature_matching}")
        if self.d_steps < 1:
            raise ConfigError(f"model.d_steps must be >= 1, got {self.d_steps}")
        if not 0.0 <= self.collapse_below < 1.0:
            raise ConfigError(f"model.collapse_below must be in [0, 1), got {self.collapse_below}")


# -- losses --------------------------------------------------------------------------------------
def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor, *, smoothing: float = 0.0) -> torch.Tensor:
    """The discriminator's loss for scores of real and fake windows, each ``shape=(B,)``.
    ``smoothing`` (``bce`` only) lowers the real target to ``1 - smoothing``."""
    if kind == "bce":
        real_loss = F.binary_cross_entropy_with_logits(real, torch.full_like(real, 1.0 - smoothing))
        return real_loss + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    raise ConfigError(f"model.loss must be one of {', '.join(LOSSES)}; got {kind!r}")


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss for the discriminator's scores of its windows ``shape=(B,)``: the
    non-saturating ``-log sigmoid(D)`` for ``bce``, ``-D`` for ``hinge`` and ``wgan-gp``."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    return -fake.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """``mean((|grad critic(x_hat)| - 1) ** 2)`` over random interpolates ``x_hat`` of ``real``
    and ``fake`` windows (same shape, ``shape=(B, ...)``); differentiable, for the critic's loss.

    cuDNN's recurrent kernels have no double backward, so cuDNN is off while it runs."""
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    with torch.backends.cudnn.flags(enabled=False):
        scores = critic(mixed)
        (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def correct(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """How many of the real and fake windows the discriminator tells apart, ``shape=()``:
    a real score above the threshold, a fake one below it. The threshold is 0 for ``bce`` and
    ``hinge``; a Wasserstein critic has no fixed one, so its is the midpoint of the two mean
    scores."""
    threshold = 0.5 * (real.mean() + fake.mean()) if kind == "wgan-gp" else real.new_zeros(())
    return (real > threshold).sum() + (fake <= threshold).sum()


def all_mean(value: torch.Tensor) -> float:
    """The mean of a scalar over all processes (itself in a world of one), so every process
    takes the same decision from it."""
    value = value.detach().float().reshape(1)
    if dist.is_available() and dist.is_initialized():
        value = value.clone()
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return float(value)


def present_frames(mask: torch.Tensor) -> torch.Tensor:
    """Which frames of a window hold music, ``shape=(B, L)`` 0/1, from a mask ``shape=(B, L)``:
    every frame up to the last masked one (a validation batch leaves frame 1 unscored, but it is
    still music, not padding)."""
    return mask.flip(1).cummax(1).values.flip(1)


def moment_gap(
    real: torch.Tensor, fake: torch.Tensor, real_present: torch.Tensor, fake_present: torch.Tensor
) -> torch.Tensor:
    """How far apart the first two moments of real and fake windows are: the mean over features
    of ``|mean_real - mean_fake| + |std_real - std_fake|``, taken once over the present frames
    and once over the changes from one present frame to the next (so that a generator whose
    frames have the right statistics but the wrong motion, e.g. keys flickering on and off,
    scores badly). Windows ``shape=(B, L, D)``, presence ``shape=(B, L)``."""

    def moments(x: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = x[present > 0]
        if len(rows) == 0:
            return x.new_zeros(x.shape[-1]), x.new_zeros(x.shape[-1])
        return rows.mean(0), rows.std(0, unbiased=False)

    def gap(r: torch.Tensor, rp: torch.Tensor, f: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
        (mr, sr), (mf, sf) = moments(r, rp), moments(f, fp)
        return ((mr - mf).abs() + (sr - sf).abs()).mean()

    def steps(x: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, 1:] - x[:, :-1], present[:, 1:] * present[:, :-1]

    return gap(real, real_present, fake, fake_present) + gap(*steps(real, real_present), *steps(fake, fake_present))


def spread(windows: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Mean pairwise distance between windows ``shape=(B, L, D)`` (mean absolute difference per
    present value; absent frames count as zeros in both), over the ``B * (B - 1)`` ordered pairs."""
    flat = (windows * present.unsqueeze(-1)).flatten(1)
    count = flat.shape[0]
    if count < 2:
        return flat.new_zeros(())
    size = present.sum(1).mean().clamp_min(1) * windows.shape[-1]
    return torch.cdist(flat, flat, p=1).sum() / (count * (count - 1)) / size


# -- the game ------------------------------------------------------------------------------------
class AdversarialModel(SequenceModel):
    """Base class of the GAN families. Subclasses build ``self.generator`` and
    ``self.discriminator`` (modules) and implement ``real``, ``fakes``, ``discriminate``,
    ``generate`` and, to pretrain, ``pretrain_loss``. ``pretrained`` counts the generator's
    maximum-likelihood steps in a buffer, so checkpoints and resumed runs carry it."""

    best_metric: ClassVar[str] = "sample_gap"
    """No likelihood to validate: the trainer judges samples against validation music after
    every epoch (one minus the judge's mean overlap; ``training.trainer.SAMPLE_GAP``)."""
    likelihood: ClassVar[bool] = False
    carries_state: ClassVar[bool] = False
    disqualifies: ClassVar[tuple[str, ...]] = ("mode_collapse",)

    generator: nn.Module
    discriminator: nn.Module

    def __init__(self, config: Any, n_features: int) -> None:
        super().__init__(config, n_features)
        # a float, not an integer: train.ema averages every buffer, and integers cannot be averaged
        self.register_buffer("pretrained", torch.zeros(()))

    @property
    def binary(self) -> bool:
        return False

    # -- what a family supplies ------------------------------------------------------------------
    def real(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The real windows the discriminator sees ``shape=(B, L, D)`` and their presence mask
        ``shape=(B, L)``."""
        raise NotImplementedError

    def fakes(self, batch: Batch, *, hard: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Generated windows like ``real(batch)`` and their presence mask; differentiable
        unless under ``torch.no_grad``. ``hard``: drawn as generation draws (0/1 keys)."""
        raise NotImplementedError

    def discriminate(self, windows: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``shape=(B,)`` of windows ``shape=(B, L, D)`` and the discriminator's last
        features ``shape=(B, F)`` (for feature matching)."""
        raise NotImplementedError

    def pretrain_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """``{"loss": scalar}``: the generator's maximum-likelihood loss on ``batch``."""
        raise NotImplementedError

    @property
    def pretrain_steps(self) -> int:
        return int(getattr(self.config, "pretrain_steps", 0))

    @property
    def mle_weight(self) -> float:
        """Weight of ``pretrain_loss`` in the generator's loss during the game (families that
        pretrain; 0 for the others)."""
        return float(getattr(self.config, "mle_weight", 0.0))

    # -- losses, run through the trainer's ``call`` ----------------------------------------------
    def discriminator_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The discriminator's loss on ``batch`` against fresh fakes (the generator untouched):
        ``{"loss", "correct", "count"}``."""
        config = self.config
        real, real_present = self.real(batch)
        with torch.no_grad():
            fake, fake_present = self.fakes(batch)
        real_score, _ = self.discriminate(real, real_present)
        fake_score, _ = self.discriminate(fake, fake_present)
        loss = discriminator_loss(config.loss, real_score, fake_score, smoothing=config.label_smoothing)
        if config.loss == "wgan-gp" and config.gp_weight > 0:
            n = min(len(real), len(fake))
            present = real_present[:n] * fake_present[:n]
            loss = loss + config.gp_weight * gradient_penalty(
                lambda x: self.discriminate(x, present)[0], real[:n], fake[:n]
            )
        count = torch.tensor(float(len(real_score) + len(fake_score)), device=real.device)
        return {"loss": loss, "correct": correct(config.loss, real_score, fake_score).float(), "count": count}

    def generator_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The generator's loss on fresh fakes, plus ``feature_matching`` times the squared
        distance between the mean discriminator features of real and fake windows, plus
        ``mle_weight`` (families that pretrain) times the maximum-likelihood loss on ``batch``."""
        fake, fake_present = self.fakes(batch)
        fake_score, fake_features = self.discriminate(fake, fake_present)
        loss = generator_loss(self.config.loss, fake_score)
        weight = self.config.feature_matching
        if weight > 0:
            with torch.no_grad():
                real, real_present = self.real(batch)
                _, real_features = self.discriminate(real, real_present)
            loss = loss + weight * (real_features.mean(0) - fake_features.mean(0)).pow(2).sum()
        if self.mle_weight > 0:
            loss = loss + self.mle_weight * self.pretrain_loss(batch)["loss"]
        return {"loss": loss}

    # -- the trainer's contract ------------------------------------------------------------------
    def configure_optimizers(self, train: Any) -> dict[str, torch.optim.Optimizer]:
        """One Adam per player, ``beta1 = 0.5`` as GANs usually train (``beta2 = 0.9`` for
        ``wgan-gp``, as Gulrajani et al.); ``g_lr`` / ``d_lr`` or ``train.lr``. A family that
        pretrains its generator gets a third, ``pretrain``: the generator's maximum-likelihood
        phase is ordinary supervised training, so it runs as the other families train (Adam's
        default betas at ``train.lr``), not at the game's gentler settings."""
        betas = (0.5, 0.9) if self.config.loss == "wgan-gp" else (0.5, 0.999)
        optimizers = {
            "generator": torch.optim.Adam(
                self.generator.parameters(),
                lr=self.config.g_lr or train.lr,
                betas=betas,
                weight_decay=train.weight_decay,
            ),
            "discriminator": torch.optim.Adam(
                self.discriminator.parameters(),
                lr=self.config.d_lr or train.lr,
                betas=betas,
                weight_decay=train.weight_decay,
            ),
        }
        if self.pretrain_steps:
            optimizers["pretrain"] = torch.optim.Adam(
                self.generator.parameters(), lr=train.lr, weight_decay=train.weight_decay
            )
        return optimizers

    def training_step(
        self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], call: Call, *, grad_clip: float = 0.0
    ) -> dict[str, torch.Tensor]:
        """While ``pretrained < pretrain_steps``: one maximum-likelihood step of the generator
        (with the ``pretrain`` optimizer). Then one discriminator step and one generator step.
        Both always run forward and backward through ``call`` (so torchrun's gradient averaging
        runs on every process); with ``freeze_ahead`` a player's optimizer step is skipped, on
        all processes alike, by the discriminator's accuracy averaged over processes. Returns ``g_loss``, ``d_loss``,
        ``d_accuracy``, ``d_skipped``, ``g_skipped`` (1 when that step was skipped), ``frames``."""
        frames = batch["mask"][:, 1:].sum().detach()
        gen, disc = optimizers["generator"], optimizers["discriminator"]
        if int(self.pretrained) < self.pretrain_steps:
            out = call("pretrain_loss", batch)
            _update(optimizers["pretrain"], out["loss"], self.generator, grad_clip)
            _tick(gen, disc)
            self.pretrained += 1
            return {"mle_loss": out["loss"].detach(), "frames": frames}

        ahead = self.config.freeze_ahead
        for _ in range(self.config.d_steps):
            d_out = call("discriminator_step", batch)
            accuracy = all_mean(d_out["correct"] / d_out["count"])
            skip_d = bool(ahead) and accuracy > ahead
            _update(disc, d_out["loss"], self.discriminator, grad_clip, skip=skip_d)
        skip_g = bool(ahead) and accuracy < 1.0 - ahead

        g_out = call("generator_step", batch)  # the discriminator's gradients are cleared before its next step
        _update(gen, g_out["loss"], self.generator, grad_clip, skip=skip_g)
        if "pretrain" in optimizers:
            _tick(optimizers["pretrain"])
        return {
            "g_loss": g_out["loss"].detach(),
            "d_loss": d_out["loss"].detach(),
            "d_accuracy": torch.tensor(accuracy),
            "d_skipped": torch.tensor(float(skip_d)),
            "g_skipped": torch.tensor(float(skip_g)),
            "frames": frames,
        }

    @torch.no_grad()
    def validation_sums(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Against as many fakes as ``batch`` holds (drawn as generation draws them):
        ``d_accuracy`` (real and fake windows told apart), ``moment_gap`` (per-feature mean and
        std of real and fake frames, and of their frame-to-frame changes, apart; lower is better)
        and ``diversity`` (mean pairwise distance of generated windows over that of real ones), each
        as ``(sum, count)`` over batches. A batch of one window adds no diversity;
        ``diversity_measured`` is the share of batches that did (0: no verdict on collapse)."""
        real, real_present = self.real(batch)
        fake, fake_present = self.fakes(batch, hard=True)
        n = torch.tensor(float(len(real)), device=real.device)
        if len(real) == 0:  # no window long enough to compare
            zero = n.new_zeros(())
            names = ("d_accuracy", "moment_gap", "diversity", "diversity_measured")
            return {name: (zero, zero) for name in names}
        real_score, _ = self.discriminate(real, real_present)
        fake_score, _ = self.discriminate(fake, fake_present)
        seen = torch.tensor(float(len(real) + len(fake)), device=real.device)
        sums = {
            "d_accuracy": (correct(self.config.loss, real_score, fake_score).float(), seen),
            "moment_gap": (moment_gap(real, fake, real_present, fake_present) * n, n),
        }
        real_spread = spread(real, real_present)
        if len(real) > 1 and len(fake) > 1 and real_spread > 0:
            sums["diversity"] = (spread(fake, fake_present) / real_spread * n, n)
            sums["diversity_measured"] = (n.new_ones(()), n.new_ones(()))
        else:
            sums["diversity"] = (n.new_zeros(()), n.new_zeros(()))
            sums["diversity_measured"] = (n.new_zeros(()), n.new_ones(()))
        return sums

    def diagnose(self, metrics: dict[str, float]) -> dict[str, str | None]:
        """``mode_collapse`` when ``valid_diversity`` is below ``collapse_below`` (the generated
        windows are all alike; not when no validation batch held two windows to compare);
        ``discriminator_saturated`` when ``valid_d_accuracy`` is at least 0.99 (the generator
        gets no useful gradient), once the game has started (while the
        generator pretrains, the discriminator has not played yet) and not for ``wgan-gp`` (a
        Wasserstein critic separates real from fake by design: its scores measure a distance,
        and its gradients do not vanish when it wins)."""
        diversity = metrics.get("valid_diversity")
        accuracy = metrics.get("valid_d_accuracy")
        limit = self.config.collapse_below
        measured = metrics.get("valid_diversity_measured", 1.0) > 0
        collapse = measured and diversity is not None and diversity < limit
        playing = int(self.pretrained) >= self.pretrain_steps and self.config.loss != "wgan-gp"
        saturated = playing and accuracy is not None and accuracy >= 0.99
        return {
            "mode_collapse": (
                f"generated windows differ {diversity:.3f} times as much as real ones (below {limit:g}): "
                "the generator makes one thing; try model.feature_matching, model.loss=wgan-gp or a lower model.g_lr"
                if collapse
                else None
            ),
            "discriminator_saturated": (
                f"the discriminator tells {accuracy:.1%} of windows apart: the generator learns little; try "
                "model.label_smoothing=0.1, model.freeze_ahead=0.8 or model.spectral_norm=true"
                if saturated
                else None
            ),
        }


def _update(
    optimizer: torch.optim.Optimizer, loss: torch.Tensor, module: nn.Module, grad_clip: float, *, skip: bool = False
) -> None:
    """Backward ``loss`` into fresh gradients; clip ``module``'s; step unless ``skip``."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if skip:
        return
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(module.parameters(), grad_clip)
    optimizer.step()


def _tick(*optimizers: torch.optim.Optimizer) -> None:
    """Step ``optimizers`` without gradients (their parameters' gradients cleared first): no
    change to any weight; it only tells each one's learning-rate scheduler that it ran."""
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
        optimizer.step()


def batch_spread(features: torch.Tensor) -> torch.Tensor:
    """The minibatch standard deviation: the standard deviation of each feature over the batch
    ``shape=(B, F)``, averaged over features, ``shape=()``; 0 for a batch of one."""
    if len(features) < 2:
        return features.new_zeros(())
    return features.std(0, unbiased=False).mean()


def with_batch_spread(inputs: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """``inputs`` ``shape=(B, ..., F)`` with the :func:`batch_spread` of ``features`` ``shape=(B, F')``
    appended to every position as one more feature: what a discriminator's score reads
    under ``minibatch_std``."""
    spread = batch_spread(features).expand(*inputs.shape[:-1], 1)
    return torch.cat([inputs, spread], dim=-1)


def spectral_normed(layer: nn.Module, enabled: bool) -> nn.Module:
    """``layer`` under spectral normalization when ``enabled``, else unchanged."""
    return nn.utils.parametrizations.spectral_norm(layer) if enabled else layer
