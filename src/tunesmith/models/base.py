"""What every model offers the trainer, the evaluator and the sampler.

The trainer's contract is small and knows no family:

- ``configure_optimizers(train) -> {name: optimizer}``: the model declares its optimizers
  (one Adam by default; a GAN declares one per player);
- ``training_step(batch, optimizers, call, grad_clip=...) -> {name: tensor}``: one update;
  ``call(method, batch)`` runs ``self.<method>(batch)`` through the distributed wrapper, so
  gradients are averaged across processes. The default takes ``loss`` and steps the one
  optimizer; a family with two players overrides it;
- ``validation_sums(batch) -> {metric: (sum, count)}``: summed over batches and processes,
  each metric is ``sum / count``; the run keeps the checkpoint with the lowest
  ``best_metric``.

A batch is a window of frames (``batches.py``): ``frames`` ``shape=(B, L + 1, D)`` and
``mask`` ``shape=(B, L + 1)``. A next-frame model (this base class) does its own shift: it reads
frames ``0..L-1`` and predicts ``1..L``. Its distribution over the next frame is an output head
(``heads.py``): Bernoulli keys for piano rolls, Gaussian or Laplace features for spectral frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from .heads import Head, make_head

Batch = dict[str, torch.Tensor]
Call = Callable[[str, Batch], dict[str, torch.Tensor]]
POOLINGS = ("trajectory", "mean", "mean_std", "mean_max", "last")
"""How ``SequenceModel.embed`` pools a next-frame model's hidden features over time."""
SEGMENTS = 16
"""Consecutive parts of a sequence that the ``trajectory`` pooling averages separately."""


def next_frame(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(inputs, targets, mask)``: frames ``0..L-1``, frames ``1..L`` and the targets' mask."""
    frames, mask = batch["frames"], batch["mask"]
    return frames[:, :-1], frames[:, 1:], mask[:, 1:]


class SequenceModel(nn.Module):
    """Base class of every family; as it stands, a next-frame model:
    ``forward(inputs, state) -> (params, state)`` plus a head.

    Subclasses set ``name``, ``description`` and ``Config`` (a dataclass of options; a ``head``
    option picks the output distribution) and implement ``forward``. ``n_features`` is the frame
    width, set from the representation. ``frames`` says which frames the family can model.

    Families that are not next-frame models (GANs, autoencoders) override the trainer's
    contract (``configure_optimizers``, ``training_step``, ``validation_sums``) and ``generate``,
    and say what they lack through the capability flags: ``likelihood`` (``log_prob`` is the
    exact likelihood of the next frame, so ``evaluate`` reports a held-out NLL), ``carries_state``
    (``forward(inputs, state)`` continues a sequence) and ``latent`` (``encode`` / ``decode``
    map windows to latent vectors and back: interpolation, similarity).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type]
    frames: ClassVar[tuple[str, ...]] = ("binary", "continuous")
    best_metric: ClassVar[str] = "nll"
    likelihood: ClassVar[bool] = True
    carries_state: ClassVar[bool] = True
    latent: ClassVar[bool] = False
    generates: ClassVar[bool] = True
    """False for a family that does not draw new frames (the denoiser): ``sample_frames`` refuses it."""
    disqualifies: ClassVar[tuple[str, ...]] = ()
    """Alerts of :meth:`diagnose` that keep an epoch from becoming the best checkpoint (a GAN's
    ``mode_collapse``: samples all alike can still score well on average statistics)."""

    def __init__(self, config: Any, n_features: int) -> None:
        super().__init__()
        self.config = config
        self.n_features = n_features
        head = getattr(config, "head", "bernoulli")
        self.head: Head = make_head(
            "bernoulli" if head == "auto" else head, n_features, getattr(config, "components", 1)
        )

    @property
    def binary(self) -> bool:
        """Whether the model draws binary (0/1) frames."""
        return self.head.binary

    def spec(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild this model: name, options, frame width."""
        return {"name": self.name, "params": asdict(self.config), "n_features": self.n_features}

    def forward(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``inputs`` ``shape=(B, L, D)`` -> the head's parameters ``shape=(B, L, n_params)`` for
        the frame after each input, and the carried state."""
        raise NotImplementedError

    def set_output_prior(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Start the output at the data's marginal: per-feature ``mean`` and ``std``
        ``shape=(D,)`` of the training frames (for piano rolls, ``mean`` is how often each key
        sounds). Called once before training from scratch. Without it a fresh model predicts
        0.5 for every key and spends its first steps learning that frames are sparse."""
        readout = getattr(self, "readout", None)
        if isinstance(readout, nn.Linear):
            self.head.init_bias(readout.bias, mean, std)

    @classmethod
    def check_data(cls, options: dict[str, Any], data: Any) -> None:
        """Refuse, as a ConfigError, a ``data:`` section (``DataConfig``) this family cannot
        train on with these validated ``model:`` ``options``; called when a config is read, so
        the mistake is reported before any data is prepared. Default: every section fits."""

    def adapt(self, representation: Any) -> None:
        """Called once before training from scratch with the representation the frames come
        from (its ``state`` holds a spectral representation's statistics). Default: nothing; a
        family that works in the raw feature domain (the denoiser) keeps what it needs in buffers,
        so checkpoints carry it."""

    def diagnose(self, metrics: dict[str, float]) -> dict[str, str | None]:
        """Health checks on one epoch's validation ``metrics``: ``{alert: message or None}``.
        The trainer writes ``alert_<name>`` (1 when a message is given, else 0) to the metrics
        file and logs each message as a warning (a GAN reports mode collapse and a saturated
        discriminator here); an epoch with an alert named in ``disqualifies`` never becomes
        the best checkpoint, whatever its best metric. Default: no checks."""
        return {}

    # -- likelihood ----------------------------------------------------------------------------
    def log_prob(self, batch: Batch) -> torch.Tensor:
        """Log-likelihood of each target frame, ``shape=(B, L)``, in nats (summed over features)."""
        inputs, targets, _ = next_frame(batch)
        params, _ = self(inputs)
        return self.head.log_prob(params, targets)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood per masked frame: ``{"loss": scalar, "frames": count}``."""
        mask = next_frame(batch)[2]
        nll = -(self.log_prob(batch) * mask).sum()
        frames = mask.sum().clamp_min(1)
        return {"loss": nll / frames, "frames": frames}

    # -- embedding (similarity search) ----------------------------------------------------------
    def embed(self, frames: torch.Tensor, mask: torch.Tensor, *, pooling: str = "trajectory") -> torch.Tensor:
        """One vector per sequence ``shape=(B, E)`` for similarity search, from ``frames``
        ``shape=(B, L, D)`` read in order (padding after each end) and ``mask`` ``shape=(B, L)``
        (1 on the frames that count).

        A family with ``latent = True`` returns its encoder's mean ``encode(frames, mask)``. A
        next-frame model pools its top layer's hidden features (``features(inputs)``; the head's
        parameters for a family without it) over the masked frames: ``pooling`` is
        ``trajectory`` (the features standardized over the sequence, then averaged over each of
        ``SEGMENTS`` consecutive equal parts of it, concatenated: how the piece moves, without
        the colour it keeps throughout, such as its instrument), ``mean``, ``mean_std`` (mean
        and standard deviation, concatenated), ``mean_max`` or ``last`` (the features after the
        last masked frame). The features at a frame have read that frame and the ones before it
        only, so padding after the end changes nothing."""
        if self.latent:
            return self.encode(frames, mask)
        features = getattr(self, "features", None)
        try:
            hidden = features(frames)[0] if callable(features) else self(frames)[0]
        except NotImplementedError:
            raise ConfigError(f"model {self.name} has no embedding: it neither reads frames nor encodes them") from None
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        count = weights.sum(1).clamp_min(1.0)
        mean = (hidden * weights).sum(1) / count
        if pooling == "mean":
            return mean
        spread = (((hidden - mean.unsqueeze(1)) ** 2 * weights).sum(1) / count).clamp_min(0.0).sqrt()
        if pooling == "mean_std":
            return torch.cat([mean, spread], dim=-1)
        if pooling == "trajectory":
            scaled = (hidden - mean.unsqueeze(1)) / (spread.unsqueeze(1) + 1e-3)
            rank = mask.cumsum(1) - 1  # position among the counted frames
            part = (rank.clamp_min(0) * SEGMENTS / count).floor().clamp(0, SEGMENTS - 1).long()
            member = nn.functional.one_hot(part, SEGMENTS).to(hidden.dtype) * weights  # (B, L, SEGMENTS)
            sums = torch.einsum("bls,blh->bsh", member, scaled)
            parts = sums / member.sum(1).clamp_min(1.0).unsqueeze(-1)
            return parts.reshape(hidden.shape[0], -1)
        if pooling == "mean_max":
            top = hidden.masked_fill(weights == 0, torch.finfo(hidden.dtype).min).amax(1)
            return torch.cat([mean, torch.where(count > 0.5, top, torch.zeros_like(top))], dim=-1)
        if pooling == "last":
            positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
            last = torch.where(mask > 0, positions, torch.zeros_like(positions)).amax(1)
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        raise ConfigError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")

    # -- the trainer's contract ------------------------------------------------------------------
    def configure_optimizers(self, train: Any) -> dict[str, torch.optim.Optimizer]:
        """The optimizers the trainer steps and checkpoints, by name: one Adam here."""
        return {"model": torch.optim.Adam(self.parameters(), lr=train.lr, weight_decay=train.weight_decay)}

    def training_step(
        self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], call: Call, *, grad_clip: float = 0.0
    ) -> dict[str, torch.Tensor]:
        """One update: ``loss`` (through ``call``), backward, clip, step. Returns the named
        numbers to log (``loss``) and ``frames``, the weight of this batch in their averages."""
        out = call("loss", batch)
        optimizer = optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(self.parameters(), grad_clip)
        optimizer.step()
        return {"loss": out["loss"].detach(), "frames": out["frames"].detach()}

    @torch.no_grad()
    def validation_sums(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{"nll": (summed negative log-likelihood, scored frames)}`` of one batch."""
        mask = next_frame(batch)[2]
        return {"nll": (-(self.log_prob(batch) * mask).sum(), mask.sum())}

    # -- sampling --------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        context: torch.Tensor,
        *,
        num: int,
        length: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        repair: Callable[[Any, Any], Any] | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """``num`` sequences of ``length`` new frames ``shape=(num, length, D)`` that follow
        ``context`` ``shape=(C, D)`` (the representation's silent frame, then any primer).

        Here: read the context, then draw each frame from the head and feed it back, the
        recurrent state carrying the past, so a piece can run far past the training window.
        ``repair(frame, previous)`` (numpy, ``shape=(num, D)``) may fix each frame before it is
        fed back. Families that do not generate frame by frame override this."""
        from tqdm.auto import tqdm

        device = context.device
        outputs, state = self(context.unsqueeze(0).expand(num, -1, -1).contiguous())
        previous = context[-1:].expand(num, -1).cpu().numpy()
        frames = []
        for _ in tqdm(range(length), desc="sampling", disable=not progress, leave=False):
            frame = self.sample_frame(outputs[:, -1], temperature=temperature, top_p=top_p, generator=generator)
            if repair is not None:
                frame = torch.from_numpy(repair(frame.cpu().numpy(), previous)).to(device)
            frames.append(frame)
            previous = frame.cpu().numpy()
            outputs, state = self(frame.unsqueeze(1), state)
        return torch.stack(frames, dim=1)

    @torch.no_grad()
    def sample_frame(
        self,
        outputs: torch.Tensor,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw one frame ``shape=(B, D)`` from this frame's ``forward`` outputs ``shape=(B, n_params)``
        (see the head's ``sample`` for what ``temperature`` and ``top_p`` do)."""
        return self.head.sample(outputs, temperature=temperature, top_p=top_p, generator=generator)
