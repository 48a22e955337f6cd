"""``lstm-gan``: a recurrent GAN over frames, after C-RNN-GAN (Mogren 2016).

The generator is an LSTM that reads, at each step, fresh noise and its own previous output, and
emits the next frame: free-running, so it makes pieces of any length and continues a primer (the
primer's frames are read as if they were its previous outputs). The discriminator is a
bidirectional LSTM that scores every frame of a window; its score is their mean.

For piano rolls the generator's outputs are key probabilities. The discriminator sees hard 0/1
keys drawn from them, with a straight-through gradient (``sample + p - p.detach()``), so fakes
look like real binary frames; generation draws Bernoulli keys (``temperature`` divides the
logits). For spectral frames the generator emits standardized frames directly; ``temperature``
scales its noise. With ``output_noise`` it emits a Gaussian per feature instead and the frame is
drawn from it (reparameterized, so the discriminator's gradient reaches mean and scale): fine
detail that varies from frame to frame comes straight from that draw, as the per-pixel noise of
StyleGAN (Karras et al. 2019) supplies it, instead of being carried through the LSTM.

Option ``pretrain_steps`` trains the generator by maximum likelihood first (teacher-forced next
frame: binary cross-entropy for keys, squared error for spectral frames, the Gaussian's negative
log-likelihood with ``output_noise``), as C-RNN-GAN did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .adversarial import AdversarialConfig, AdversarialModel, present_frames, spectral_normed, with_batch_spread
from .base import Batch
from .heads import bernoulli_nucleus


@dataclass
class LSTMGANConfig(AdversarialConfig):
    """C-RNN-GAN: an LSTM generator against a bidirectional LSTM discriminator.

    Attributes:
        head: what the generator emits, set from the representation by ``auto``: ``bernoulli``
            (key probabilities, drawn as 0/1 keys: piano rolls) or ``gaussian`` (standardized
            frames, emitted directly: spectral frames). No density is learned either way.
        noise_size: noise values the generator reads per frame, fresh at every frame.
        held_noise: noise values drawn once per sequence and read at every frame with the
            fresh ones (0: none): room for what stays the same through a piece or clip (its
            loudness, its register) to differ from one to the next.
        g_hidden: units per generator layer.
        g_layers: generator layers.
        d_hidden: units per direction of each discriminator layer.
        d_layers: discriminator layers.
        pretrain_steps: maximum-likelihood steps of the generator (teacher-forced next frame)
            before the adversarial game starts; counted in the checkpoint, so a resumed run
            does not repeat them.
        mle_weight: weight of the same maximum-likelihood loss kept in the generator's loss
            during the game (0: none, the pure C-RNN-GAN). It anchors the generator to the data
            while the adversarial loss corrects what teacher forcing cannot see: how its own
            free-running windows look (too many notes, say).
        output_noise: spectral frames only: the generator emits a mean and a scale per feature
            and each frame is drawn from that Gaussian (see the module's docstring); pretraining
            and ``mle_weight`` then use its negative log-likelihood, as the LSTM trains. Off:
            frames are emitted directly (C-RNN-GAN).
    """

    head: str = "auto"
    noise_size: int = 32
    held_noise: int = 0
    g_hidden: int = 256
    g_layers: int = 1
    d_hidden: int = 128
    d_layers: int = 1
    pretrain_steps: int = 0
    mle_weight: float = 0.0
    output_noise: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.head not in ("auto", "bernoulli", "gaussian"):
            raise ConfigError(f"model.head of lstm-gan must be auto, bernoulli or gaussian; got {self.head!r}")
        for key in ("noise_size", "g_hidden", "g_layers", "d_hidden", "d_layers"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.held_noise < 0:
            raise ConfigError(f"model.held_noise must be >= 0, got {self.held_noise}")
        if self.pretrain_steps < 0:
            raise ConfigError(f"model.pretrain_steps must be >= 0, got {self.pretrain_steps}")
        if not self.mle_weight >= 0:
            raise ConfigError(f"model.mle_weight must be >= 0, got {self.mle_weight}")
        if self.output_noise and self.head == "bernoulli":
            raise ConfigError(
                "model.output_noise is for spectral frames: keys are already drawn from their probabilities"
            )


class Generator(nn.Module):
    """An LSTM from ``(noise, previous frame)`` to the next frame's logits or values."""

    def __init__(self, config: LSTMGANConfig, n_features: int) -> None:
        super().__init__()
        noise = config.noise_size + config.held_noise
        self.rnn = nn.LSTM(noise + n_features, config.g_hidden, config.g_layers, batch_first=True)
        self.readout = nn.Linear(config.g_hidden, 2 * n_features if config.output_noise else n_features)

    def forward(self, previous: torch.Tensor, noise: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``previous`` ``shape=(B, T, D)``, ``noise`` ``shape=(B, T, noise_size + held_noise)`` -> outputs
        ``shape=(B, T, D)`` (logits or frames; ``2 D``, mean and log scale, with ``output_noise``)
        for the frame after each, and the LSTM state."""
        hidden, state = self.rnn(torch.cat([noise, previous], dim=-1), state)
        return self.readout(hidden), state


class Discriminator(nn.Module):
    """A linear projection, a bidirectional LSTM, and a linear score per frame."""

    def __init__(self, config: LSTMGANConfig, n_features: int) -> None:
        super().__init__()
        self.minibatch_std = config.minibatch_std
        self.project = spectral_normed(nn.Linear(n_features, config.d_hidden), config.spectral_norm)
        self.rnn = nn.LSTM(config.d_hidden, config.d_hidden, config.d_layers, batch_first=True, bidirectional=True)
        extra = 1 if config.minibatch_std else 0
        self.score = spectral_normed(nn.Linear(2 * config.d_hidden + extra, 1), config.spectral_norm)

    def forward(self, windows: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``windows`` ``shape=(B, L, D)``, ``present`` ``shape=(B, L)`` -> the mean score over
        present frames ``shape=(B,)`` and the mean top-layer features ``shape=(B, 2 * d_hidden)``.
        With ``minibatch_std`` every frame's score also reads how much the windows' mean
        features differ across the batch (0 for a batch of one)."""
        hidden, _ = self.rnn(F.leaky_relu(self.project(windows), 0.2))
        weight = present / present.sum(1, keepdim=True).clamp_min(1.0)
        features = (hidden * weight.unsqueeze(-1)).sum(1)
        scored = with_batch_spread(hidden, features) if self.minibatch_std else hidden
        scores = (self.score(scored).squeeze(-1) * weight).sum(1)
        return scores, features


class LSTMGAN(AdversarialModel):
    name = "lstm-gan"
    description = "C-RNN-GAN: LSTM generator vs bidirectional LSTM discriminator; free-running, any length, primers"
    Config = LSTMGANConfig
    frames = ("binary", "continuous")

    def __init__(self, config: LSTMGANConfig, n_features: int) -> None:
        super().__init__(config, n_features)
        self.generator = Generator(config, n_features)
        self.discriminator = Discriminator(config, n_features)

    @property
    def binary(self) -> bool:
        return self.config.head == "bernoulli"

    def set_output_prior(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Start the generator's outputs at the data's per-feature ``mean`` ``shape=(D,)``: how
        often each key sounds (as a logit), or each feature's mean."""
        if self.config.output_noise:  # the Gaussian head's mean and log standard deviation
            self.head.init_bias(self.generator.readout.bias, mean, std)
            return
        bias = torch.logit(mean.clamp(1e-4, 1 - 1e-4)) if self.binary else mean
        with torch.no_grad():
            self.generator.readout.bias.copy_(bias)

    def _held(self, rows: int, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A sequence's held noise ``shape=(rows, 1, held_noise)``, drawn once per sequence."""
        shape = (rows, 1, self.config.held_noise)
        return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)

    def _noise(
        self,
        rows: int,
        steps: int,
        like: torch.Tensor,
        generator: torch.Generator | None = None,
        held: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The generator's noise for ``steps`` frames ``shape=(rows, steps, noise_size +
        held_noise)``: fresh at every frame, then ``held`` (drawn here when not given)
        repeated over the frames."""
        shape = (rows, steps, self.config.noise_size)
        fresh = torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
        if held is None:
            held = self._held(rows, like, generator)
        return torch.cat([fresh, held.expand(-1, steps, -1)], dim=-1)

    def _emit(self, outputs: torch.Tensor) -> torch.Tensor:
        """Outputs ``shape=(B, T, D)`` -> frames the discriminator sees: for keys, 0/1 draws with a
        straight-through gradient to their probabilities; with ``output_noise``, draws from the
        Gaussians (differentiable in their means and scales)."""
        if self.config.output_noise:
            return self.head.sample(outputs)
        if not self.binary:
            return outputs
        probs = torch.sigmoid(outputs)
        return torch.bernoulli(probs.detach()) + probs - probs.detach()

    # -- the players -----------------------------------------------------------------------------
    def real(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames ``1..L`` of the window and which of them are music."""
        return batch["frames"][:, 1:], present_frames(batch["mask"][:, 1:])

    def fakes(self, batch: Batch, *, hard: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """One free-running window per row, after the row's frame 0 (its real context), as long
        as the real one; frames past the real window's end are zeroed as its padding is."""
        frames = batch["frames"]
        present = present_frames(batch["mask"][:, 1:])
        previous, state, out = frames[:, :1], None, []
        noise = self._noise(frames.shape[0], frames.shape[1] - 1, frames)
        for t in range(frames.shape[1] - 1):
            outputs, state = self.generator(previous, noise[:, t : t + 1], state)
            previous = self._emit(outputs)
            out.append(previous)
        return torch.cat(out, dim=1) * present.unsqueeze(-1), present

    def discriminate(self, windows: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.discriminator(windows, present)

    def pretrain_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Teacher-forced next frame: binary cross-entropy per key (piano rolls), squared error per
        feature (spectral frames) or the Gaussian's negative log-likelihood (``output_noise``),
        summed over features, averaged over scored frames."""
        frames, mask = batch["frames"], batch["mask"][:, 1:]
        inputs, targets = frames[:, :-1], frames[:, 1:]
        outputs, _ = self.generator(inputs, self._noise(inputs.shape[0], inputs.shape[1], inputs))
        if self.config.output_noise:
            per = -self.head.log_prob(outputs, targets).unsqueeze(-1)
        elif self.binary:
            per = F.binary_cross_entropy_with_logits(outputs, targets, reduction="none")
        else:
            per = (outputs - targets) ** 2
        return {"loss": (per.sum(-1) * mask).sum() / mask.sum().clamp_min(1.0)}

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
        """``num`` sequences of ``length`` new frames ``shape=(num, length, D)`` after ``context``
        ``shape=(C, D)``: the context is read as the generator's own previous outputs, then each
        frame is drawn and fed back (``repair(frame, previous)`` may fix it first). Keys: 0/1
        draws of the key probabilities at ``temperature``, ``top_p`` < 1 keeps the likeliest keys
        (see the Bernoulli head). Spectral frames: emitted directly, the noise scaled by
        ``temperature`` (with ``output_noise``: drawn from the Gaussians at ``temperature`` and
        ``top_p``, as the LSTM's Gaussian head draws)."""
        from tqdm.auto import tqdm

        device = context.device
        rows = context.unsqueeze(0).expand(num, -1, -1).contiguous()
        scale = 1.0 if self.binary else temperature
        state = None
        held = self._held(num, rows, generator)  # one per sequence, primer included
        if rows.shape[1] > 1:  # the primer, as if the generator had made it
            noise = self._noise(num, rows.shape[1] - 1, rows, generator, held)
            _, state = self.generator(rows[:, :-1], scale * noise)
        previous = rows[:, -1:]
        last = previous[:, 0].cpu().numpy()
        frames = []
        for _ in tqdm(range(length), desc="sampling", disable=not progress, leave=False):
            outputs, state = self.generator(previous, scale * self._noise(num, 1, rows, generator, held), state)
            frame = outputs[:, 0]
            if self.config.output_noise:
                frame = self.head.sample(frame, temperature=temperature, top_p=top_p, generator=generator)
            elif self.binary:
                probs = torch.sigmoid(frame / max(temperature, 1e-6))
                if top_p < 1.0:
                    probs = bernoulli_nucleus(probs, top_p)
                frame = torch.bernoulli(probs, generator=generator)
            if repair is not None:
                frame = torch.from_numpy(repair(frame.cpu().numpy(), last)).to(device=device, dtype=rows.dtype)
            last = frame.cpu().numpy()
            frames.append(frame)
            previous = frame.unsqueeze(1)
        return torch.stack(frames, dim=1)
