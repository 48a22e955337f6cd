"""Autoencoders over phrases: ``lstm-vae`` (MusicVAE's flat model) and ``lstm-ae``.

MusicVAE (Roberts et al. 2018) without its hierarchical decoder: a bidirectional LSTM reads a
phrase of frames ``shape=(B, L, D)`` and gives the mean and log-variance of a latent vector
``z`` ``shape=(B, Z)``; a decoder LSTM, its state initialized from ``z`` and ``z`` joined to
every input, writes the phrase back frame by frame through the output head (Bernoulli keys for
piano rolls, Gaussian or Laplace features for spectral frames). The ``autoregressive`` decoder
reads the frame before each output (the silence frame, then the phrase: teacher forcing while
training, its own frames while decoding); the ``parallel`` decoder reads only ``z``, so every
note it writes has to come through the latent vector.

The ``mlp`` encoder and decoder replace the LSTMs with a non-recurrent pair sized by the phrase
(``phrase_frames``): each frame is embedded by one shared linear layer, the flattened phrase goes
through hidden layers to ``z``, and back to an embedding per frame that one shared layer reads
out, every frame at once. It trains many times faster per step on a CPU.

The phrase is the trainer's window without its context frame (``frames[:, 1:]``): phrases are
independent of what came before them. Longer sequences (validation pieces) are cut into
consecutive phrases of the length the model was trained on (kept in a buffer, so a checkpoint
knows it).

The VAE's loss per frame is the reconstruction NLL plus ``beta_t`` times the KL divergence
from the prior ``N(0, I)``: ``beta_t`` rises linearly to ``beta`` over ``kl_anneal_steps``
updates (a step counter in a buffer, so a resumed run continues the schedule) and the KL counts
only above ``free_bits`` nats per latent dimension (MusicVAE's ``max(KL - free_bits * Z, 0)``
per phrase). Reconstruction plus the full KL is the negative ELBO, an upper bound on the NLL
(``elbo_bound``), not an exact likelihood. The shared machinery (KL, annealing, windows,
validation sums, sampling from the prior) lives in :class:`Autoencoder`, which the
convolutional family (``conv_vae.py``) also uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..errors import ConfigError
from .base import Batch, Call, SequenceModel
from .heads import OutputConfig

GREEDY_BELOW = 0.01
"""Temperatures below this decode greedily: the likelier value of every key, the mean of every feature."""
DEFAULT_WINDOW = 32
"""Phrase length of a model that has not trained yet (the trained length is recorded on the first step)."""
ENCODERS = ("lstm", "mlp")
DECODERS = ("autoregressive", "parallel", "mlp")


@dataclass
class KLConfig:
    """How much the VAE's latent code may carry (the KL term of its loss).

    Attributes:
        beta: final weight of the KL divergence in the loss (1: the ELBO; below 1 a sharper
            reconstruction and a less regular latent space).
        kl_anneal_steps: updates over which the KL weight rises linearly from 0 to ``beta``
            (0: ``beta`` from the first update).
        free_bits: nats per latent dimension that the KL may use for free: each phrase's KL
            counts as ``max(KL - free_bits * latent_size, 0)`` (MusicVAE).
        best_metric: the validation metric that picks the best checkpoint: ``elbo_bound`` (the
            negative ELBO) or ``recon_nll`` (the reconstruction alone: for a small ``beta``,
            whose KL keeps growing while the reconstructions improve).
    """

    beta: float = 1.0
    kl_anneal_steps: int = 2000
    free_bits: float = 0.0
    best_metric: str = "elbo_bound"

    def check_kl(self) -> None:
        """ConfigError naming the first bad KL option."""
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ConfigError(f"model.beta must be a finite number >= 0, got {self.beta}")
        if self.kl_anneal_steps < 0:
            raise ConfigError(f"model.kl_anneal_steps must be >= 0, got {self.kl_anneal_steps}")
        if not (math.isfinite(self.free_bits) and self.free_bits >= 0):
            raise ConfigError(f"model.free_bits must be a finite number >= 0, got {self.free_bits}")
        if self.best_metric not in ("elbo_bound", "recon_nll"):
            raise ConfigError(f"model.best_metric must be elbo_bound or recon_nll, got {self.best_metric!r}")


@dataclass
class LSTMAEConfig(OutputConfig):
    """An encoder and a decoder of phrases around a latent vector.

    Attributes:
        hidden_size: units of the decoder LSTM and of each direction of the encoder LSTM, or of
            each hidden layer of an ``mlp`` encoder or decoder.
        num_layers: stacked LSTM layers, or hidden layers of an ``mlp`` encoder or decoder.
        latent_size: dimensions of the latent vector ``z``.
        encoder: ``lstm`` (a bidirectional LSTM reads the phrase) or ``mlp`` (each frame
            embedded to ``frame_size`` numbers by one shared layer, then the whole phrase,
            flattened, through ``num_layers`` hidden layers: many times faster per step on a CPU).
        decoder: ``autoregressive`` (an LSTM; each output reads the frame before it and ``z``),
            ``parallel`` (an LSTM that reads ``z`` only, so the phrase must come through the
            latent vector) or ``mlp`` (``z`` through ``num_layers`` hidden layers to
            ``frame_size`` numbers per frame, each read out by one shared layer: every frame at
            once, non-recurrent, the fastest to train).
        phrase_frames: frames per phrase; 0 takes the training window (``data.seq_len``). An
            ``mlp`` encoder or decoder needs it set (its layers are sized by it), usually to
            ``data.seq_len``; longer windows are cut into consecutive phrases.
        frame_size: the per-frame embedding of an ``mlp`` encoder or decoder.
        dropout: between stacked layers and before the read-out.
    """

    hidden_size: int = 512
    num_layers: int = 1
    latent_size: int = 256
    encoder: str = "lstm"
    decoder: str = "autoregressive"
    phrase_frames: int = 0
    frame_size: int = 64
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("hidden_size", "num_layers", "latent_size", "frame_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.encoder not in ENCODERS:
            raise ConfigError(f"model.encoder must be one of {', '.join(ENCODERS)}; got {self.encoder!r}")
        if self.decoder not in DECODERS:
            raise ConfigError(f"model.decoder must be one of {', '.join(DECODERS)}; got {self.decoder!r}")
        if self.phrase_frames < 0:
            raise ConfigError(f"model.phrase_frames must be >= 0, got {self.phrase_frames}")
        if "mlp" in (self.encoder, self.decoder) and not self.phrase_frames:
            raise ConfigError("model.phrase_frames must be set (usually to data.seq_len) for an mlp encoder or decoder")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class LSTMVAEConfig(LSTMAEConfig, KLConfig):
    """The LSTM autoencoder with a variational latent vector and the KL options."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_kl()


# -- small pure functions ----------------------------------------------------------------------
def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of each row, summed over latent dimensions: ``shape=(B,)``
    from ``mu``, ``logvar`` ``shape=(B, Z)``, in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def kl_weight(step: int, *, beta: float, anneal_steps: int) -> float:
    """The KL weight after ``step`` updates: ``beta * min(1, step / anneal_steps)`` (``beta`` when
    ``anneal_steps`` is 0)."""
    if anneal_steps <= 0:
        return beta
    return beta * min(1.0, step / anneal_steps)


def free_bits_kl(kl: torch.Tensor, *, free_bits: float, latent_size: int) -> torch.Tensor:
    """The KL that the loss counts, per phrase ``shape=(B,)``: ``max(kl - free_bits * latent_size, 0)``."""
    return (kl - free_bits * latent_size).clamp_min(0.0)


def split_windows(frames: torch.Tensor, mask: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut sequences ``frames`` ``shape=(B, L, D)`` (``mask`` ``shape=(B, L)``) into consecutive
    windows of ``size`` frames: ``shape=(N, size, D)`` and ``shape=(N, size)``, zero-padded at the
    end; windows with no masked frame are left out (at least one window is kept)."""
    b, length, width = frames.shape
    count = max(1, math.ceil(length / size))
    pad = count * size - length
    if pad:
        frames = torch.cat([frames, frames.new_zeros(b, pad, width)], dim=1)
        mask = torch.cat([mask, mask.new_zeros(b, pad)], dim=1)
    frames, mask = frames.reshape(b * count, size, width), mask.reshape(b * count, size)
    keep = mask.sum(-1) > 0
    if not bool(keep.any()):
        keep[0] = True
    return frames[keep], mask[keep]


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, *, eps: float = 1e-4) -> torch.Tensor:
    """Spherical interpolation from ``a`` (t=0) to ``b`` (t=1) along the last axis, ``shape=(..., Z)``.

    The angle between the two directions is swept at constant speed and the norm goes linearly
    from ``|a|`` to ``|b|``, so unit vectors stay on the unit sphere. Nearly parallel (or
    anti-parallel, or zero) vectors, where the arc is undefined, fall back to linear interpolation.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    linear = (1 - t) * a + t * b
    safe = sin.abs() > eps
    sin_safe = torch.where(safe, sin, torch.ones_like(sin))
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / sin_safe
    spherical = direction * ((1 - t) * na + t * nb)
    return torch.where(safe & (na > 1e-12) & (nb > 1e-12), spherical, linear)


# -- the shared body ---------------------------------------------------------------------------
class Autoencoder(SequenceModel):
    """What every autoencoder family shares: the trainer's contract, the KL schedule, phrases,
    sampling from the prior. A family implements ``window_size``, ``encode_params`` and
    ``reconstruction_params`` and ``decode``; ``variational`` says whether ``z`` is drawn
    (a VAE) or is the encoder's mean (a plain autoencoder, no KL).

    Buffers (saved in checkpoints): ``steps``, updates taken (the KL schedule's clock);
    ``start``, the frame a phrase starts after (the representation's silence, see ``adapt``).
    """

    variational: ClassVar[bool] = True
    best_metric = "elbo_bound"
    likelihood = False
    carries_state = False
    latent = True

    def __init__(self, config: Any, n_features: int) -> None:
        super().__init__(config, n_features)
        if self.variational:
            self.best_metric = config.best_metric
        self.register_buffer("steps", torch.zeros(()))  # float: train.ema averages every buffer
        self.register_buffer("start", torch.zeros(n_features))

    @property
    def latent_size(self) -> int:
        return self.config.latent_size

    def adapt(self, representation: Any) -> None:
        """Phrases start after the representation's silence frame (zeros for piano rolls)."""
        silence = torch.as_tensor(representation.silence(), dtype=self.start.dtype)
        self.start.copy_(silence.to(self.start.device))

    # -- for the family to implement ------------------------------------------------------------
    def window_size(self) -> int:
        """Frames per phrase (or patch) the model encodes at once."""
        raise NotImplementedError

    def encode_params(self, frames: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Phrases ``shape=(B, W, D)`` with ``mask`` ``shape=(B, W)`` -> ``mu``, ``logvar`` ``shape=(B, Z)``."""
        raise NotImplementedError

    def reconstruction_params(self, z: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """The head's parameters ``shape=(B, W, n_params)`` for the phrases ``frames``
        ``shape=(B, W, D)`` given their latents ``z`` ``shape=(B, Z)`` (teacher forcing where the
        decoder reads frames)."""
        raise NotImplementedError

    def decode(
        self,
        z: torch.Tensor,
        length: int,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        repair: Callable[[Any, Any], Any] | None = None,
    ) -> torch.Tensor:
        """Latents ``shape=(B, Z)`` -> frames ``shape=(B, length, D)``; greedy (the likelier value
        of each key, the mean of each feature) when ``temperature`` is below ``GREEDY_BELOW``,
        drawn from the head otherwise."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------
    def draw(self, params: torch.Tensor, *, temperature: float, top_p: float, generator) -> torch.Tensor:
        """Frames from head parameters ``shape=(..., n_params)`` -> ``shape=(..., D)``: greedy or sampled."""
        flat = params.reshape(-1, params.shape[-1])
        if temperature < GREEDY_BELOW:
            if self.binary:
                out = (flat > 0).to(flat.dtype)
            else:
                out = flat[:, : self.n_features]
        else:
            out = self.head.sample(flat, temperature=temperature, top_p=top_p, generator=generator)
        return out.reshape(*params.shape[:-1], self.n_features)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Phrases ``shape=(B, L, D)`` (``mask`` ``shape=(B, L)``, all ones by default) -> the mean
        of their latent vectors ``mu`` ``shape=(B, Z)``. Longer phrases than the model's window
        are cut to their first window."""
        size = self.window_size()
        frames = frames[:, :size]
        mask = torch.ones(frames.shape[:2], device=frames.device) if mask is None else mask[:, :size]
        return self.encode_params(frames.float(), mask.float())[0]

    def phrase_terms(self, frames: torch.Tensor, mask: torch.Tensor, *, sample: bool) -> dict[str, torch.Tensor]:
        """Summed terms of phrases ``shape=(B, W, D)``: ``recon`` (NLL of the masked frames),
        ``kl`` (summed over phrases, before free bits), ``kl_counted`` (after free bits) and
        ``frames`` (masked frames). ``sample``: draw ``z`` (training a VAE) or use ``mu``."""
        mu, logvar = self.encode_params(frames, mask)
        z = mu
        if self.variational and sample:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        params = self.reconstruction_params(z, frames)
        recon = -(self.head.log_prob(params, frames) * mask).sum()
        if self.variational:
            kl = kl_divergence(mu, logvar)
            counted = free_bits_kl(kl, free_bits=self.config.free_bits, latent_size=self.latent_size)
        else:
            kl = counted = mu.new_zeros(len(mu))
        return {"recon": recon, "kl": kl.sum(), "kl_counted": counted.sum(), "frames": mask.sum()}

    def kl_weight(self) -> float:
        """The KL weight at this point of training (0 for a plain autoencoder)."""
        if not self.variational:
            return 0.0
        return kl_weight(int(self.steps), beta=self.config.beta, anneal_steps=self.config.kl_anneal_steps)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Per frame: ``loss`` = (reconstruction NLL + KL weight * counted KL) / frames, with
        ``recon`` and ``kl`` per frame for the log and ``frames`` the count."""
        frames, mask = self.phrases(batch)
        terms = self.phrase_terms(frames, mask, sample=True)
        count = terms["frames"].clamp_min(1)
        loss = (terms["recon"] + self.kl_weight() * terms["kl_counted"]) / count
        return {"loss": loss, "recon": terms["recon"] / count, "kl": terms["kl"] / count, "frames": count}

    def phrases(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's frames after the context frame, cut into windows of ``window_size``:
        ``shape=(N, W, D)`` and their mask ``shape=(N, W)``."""
        return split_windows(batch["frames"][:, 1:], batch["mask"][:, 1:], self.window_size())

    def training_step(
        self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], call: Call, *, grad_clip: float = 0.0
    ) -> dict[str, torch.Tensor]:
        """One update on the loss above; logs ``loss``, ``recon``, ``kl`` and the ``beta`` in use,
        then advances the step counter."""
        beta = self.kl_weight()
        out = call("loss", batch)
        optimizer = optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(self.parameters(), grad_clip)
        optimizer.step()
        self.steps += 1
        logged = {k: out[k].detach() for k in ("loss", "recon", "kl", "frames")}
        if self.variational:
            logged["beta"] = torch.tensor(beta)
        return logged

    @torch.no_grad()
    def validation_sums(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per frame, with ``z`` = ``mu``: ``recon_nll`` (reconstruction NLL), ``kl`` and, for a
        VAE, ``elbo_bound`` = reconstruction NLL + KL, the negative ELBO (a bound on the NLL)."""
        frames, mask = self.phrases(batch)
        terms = self.phrase_terms(frames, mask, sample=False)
        count = terms["frames"]
        sums = {"recon_nll": (terms["recon"], count), "kl": (terms["kl"], count)}
        if self.variational:
            sums["elbo_bound"] = (terms["recon"] + terms["kl"], count)
        return sums

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
        """``num`` sequences of ``length`` frames ``shape=(num, length, D)``, one phrase at a time.

        The first phrase decodes a latent drawn from the prior ``N(0, I)``, or, when ``context``
        ``shape=(C, D)`` holds a primer after its start frame, the latent (``mu``) of the primer's
        last window. Each next phrase decodes the point halfway (``slerp``) between the previous
        phrase's latent and a fresh draw from the prior, so consecutive phrases stay related; the
        phrases are joined end to end and cut to ``length``."""
        size = self.window_size()
        device = context.device
        z = torch.randn(num, self.latent_size, generator=generator, device=device)
        if context.shape[0] > 1:
            primer = context[1:][-size:].unsqueeze(0)
            z = self.encode(primer, torch.ones(primer.shape[:2], device=device)).expand(num, -1)
        pieces, total = [], 0
        while total < length:
            pieces.append(
                self.decode(z, size, temperature=temperature, top_p=top_p, generator=generator, repair=repair)
            )
            total += size
            fresh = torch.randn(num, self.latent_size, generator=generator, device=device)
            z = slerp(z, fresh, 0.5)
        return torch.cat(pieces, dim=1)[:, :length]


def mlp(sizes: list[int], *, dropout: float) -> nn.Sequential:
    """Linear layers through ``sizes`` (``[in, hidden..., out]``) with GELU and dropout between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers += [nn.GELU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


class LSTMAE(Autoencoder):
    """The phrase autoencoder (LSTM or MLP encoder and decoder); ``LSTMVAE`` adds the variational
    latent vector."""

    name = "lstm-ae"
    description = "recurrent autoencoder of phrases (deterministic latent vector; MusicVAE's flat model, no KL)"
    Config: ClassVar[type] = LSTMAEConfig
    variational = False
    best_metric = "recon_nll"

    def __init__(self, config: LSTMAEConfig, n_features: int) -> None:
        super().__init__(config, n_features)
        h, layers, z = config.hidden_size, config.num_layers, config.latent_size
        frames, width = config.phrase_frames, config.frame_size
        between = config.dropout if layers > 1 else 0.0
        if config.encoder == "mlp":
            self.frame_embed = nn.Linear(n_features, width)
            self.encoder = mlp([frames * width, *[h] * layers, 2 * z], dropout=config.dropout)
        else:
            self.encoder = nn.LSTM(
                n_features, h, num_layers=layers, dropout=between, batch_first=True, bidirectional=True
            )
            self.to_latent = nn.Linear(2 * h, 2 * z)
        self.dropout = nn.Dropout(config.dropout)
        if config.decoder == "mlp":
            self.decoder = mlp([z, *[h] * layers, frames * width], dropout=config.dropout)
            self.readout = nn.Linear(width, self.head.n_params)
        else:
            self.to_state = nn.Linear(z, 2 * layers * h)
            inputs = z + (n_features if config.decoder == "autoregressive" else 0)
            self.decoder = nn.LSTM(inputs, h, num_layers=layers, dropout=between, batch_first=True)
            self.readout = nn.Linear(h, self.head.n_params)
        self.register_buffer("window", torch.zeros(()))

    def window_size(self) -> int:
        """``phrase_frames``, else the phrase length the model trained on (recorded from its
        training batches)."""
        return self.config.phrase_frames or int(self.window) or DEFAULT_WINDOW

    def training_step(
        self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], call: Call, *, grad_clip: float = 0.0
    ) -> dict[str, torch.Tensor]:
        """Record the phrase length (the trainer's window), then the shared update."""
        self.window.fill_(max(int(self.window), batch["frames"].shape[1] - 1))
        return super().training_step(batch, optimizers, call, grad_clip=grad_clip)

    def encode_params(self, frames: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Phrases ``shape=(B, W, D)`` -> ``mu``, ``logvar`` ``shape=(B, Z)``: the LSTM's final
        states of both directions (over each phrase up to its last masked frame), or the mlp of
        the masked phrase's frame embeddings (zero-padded to ``phrase_frames``)."""
        if self.config.encoder == "mlp":
            size = self.config.phrase_frames
            frames = (frames * mask.unsqueeze(-1))[:, :size]
            if frames.shape[1] < size:
                frames = torch.cat([frames, frames.new_zeros(len(frames), size - frames.shape[1], frames.shape[2])], 1)
            mu, logvar = self.encoder(F.gelu(self.frame_embed(frames)).flatten(1)).chunk(2, dim=-1)
            return mu, logvar.clamp(-10.0, 10.0)
        positions = torch.arange(1, frames.shape[1] + 1, device=frames.device)
        lengths = (positions * (mask > 0)).amax(dim=1).clamp_min(1).cpu()
        packed = pack_padded_sequence(frames, lengths, batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.encoder(packed)
        top = torch.cat([hidden[-2], hidden[-1]], dim=-1)  # forward and backward of the top layer
        mu, logvar = self.to_latent(top).chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 10.0)

    def _initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        layers, h = self.config.num_layers, self.config.hidden_size
        state = torch.tanh(self.to_state(z)).reshape(len(z), 2, layers, h).permute(1, 2, 0, 3)
        return state[0].contiguous(), state[1].contiguous()

    def _inputs(self, z: torch.Tensor, previous: torch.Tensor | None, length: int) -> torch.Tensor:
        latent = z.unsqueeze(1).expand(-1, length, -1)
        return latent if previous is None else torch.cat([previous, latent], dim=-1)

    def _phrase_params(self, z: torch.Tensor, length: int) -> torch.Tensor:
        """The mlp decoder: latents ``shape=(B, Z)`` -> parameters ``shape=(B, length, n_params)``
        of the phrase's first ``length`` frames, all at once."""
        if length > self.config.phrase_frames:
            raise ConfigError(
                f"the mlp decoder writes phrases of at most model.phrase_frames={self.config.phrase_frames} "
                f"frames, not {length}"
            )
        hidden = self.decoder(z).reshape(len(z), self.config.phrase_frames, self.config.frame_size)
        return self.readout(self.dropout(F.gelu(hidden[:, :length])))

    def reconstruction_params(self, z: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        length = frames.shape[1]
        if self.config.decoder == "mlp":
            return self._phrase_params(z, length)
        previous = None
        if self.config.decoder == "autoregressive":
            first = self.start.expand(len(frames), 1, -1)
            previous = torch.cat([first, frames[:, :-1]], dim=1)
        hidden, _ = self.decoder(self._inputs(z, previous, length), self._initial_state(z))
        return self.readout(self.dropout(hidden))

    @torch.no_grad()
    def decode(self, z, length, *, temperature=0.0, top_p=1.0, generator=None, repair=None) -> torch.Tensor:
        """Latents ``shape=(B, Z)`` -> frames ``shape=(B, length, D)``: the mlp and parallel decoders
        in one pass, the autoregressive one frame by frame, each frame fed back (after ``repair(frame,
        previous)``, numpy ``shape=(B, D)``, when given). Greedy below ``GREEDY_BELOW``."""
        draw = dict(temperature=temperature, top_p=top_p, generator=generator)
        if self.config.decoder == "mlp":
            return self.draw(self._phrase_params(z, length), **draw)
        state = self._initial_state(z)
        if self.config.decoder == "parallel":
            hidden, _ = self.decoder(self._inputs(z, None, length), state)
            return self.draw(self.readout(hidden), **draw)
        frame = self.start.expand(len(z), -1)
        frames = []
        for _ in range(length):
            hidden, state = self.decoder(self._inputs(z, frame.unsqueeze(1), 1), state)
            new = self.draw(self.readout(hidden[:, 0]), **draw)
            if repair is not None:
                fixed = repair(new.cpu().numpy(), frame.cpu().numpy())
                new = torch.as_tensor(fixed, dtype=new.dtype, device=new.device)
            frames.append(new)
            frame = new
        return torch.stack(frames, dim=1)


class LSTMVAE(LSTMAE):
    name = "lstm-vae"
    description = "recurrent variational autoencoder of phrases (MusicVAE's flat model): KL annealing, free bits"
    Config = LSTMVAEConfig
    variational = True
    best_metric = "elbo_bound"
