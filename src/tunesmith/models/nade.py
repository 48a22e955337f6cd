"""LSTM-NADE: an LSTM over time whose output is a NADE over the keys of the next frame.

The independent-key models say "each key sounds with probability p_k" and cannot say "these
keys sound together". Here the notes of one frame depend on each other, the way a chord is
written: the keys are read from the lowest up, and each key's probability depends on the
recurrent state *and on the keys already chosen below it* (Boulanger-Lewandowski et al. 2012,
RNN-NADE; Larochelle and Murray 2011, NADE)::

    a_k = c(t) + sum_{j<k} W_j v_j                     NADE hidden input, shape=(H_nade,)
    p(v_k = 1 | v_<k, past) = sigmoid(b_k(t) + U_k . sigmoid(a_k))

with the biases ``b(t)``, ``c(t)`` read out from the LSTM state. The product of these
conditionals is a proper normalized distribution over all 2^D frames, so ``log_prob`` is the
exact log-likelihood (not a bound) and is scored the same way as the Bernoulli models. Training
computes all D conditionals at once; sampling draws the keys one at a time, each conditioned on
those below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, next_frame
from .rnn import RecurrentConfig, RecurrentModel


@dataclass
class NADEConfig(RecurrentConfig):
    """The LSTM over time as in ``RecurrentConfig`` (its dropout also applies to the LSTM's
    output), and the NADE over the keys of a frame.

    Attributes:
        nade_hidden: units of the NADE that models the keys within a frame.
    """

    nade_hidden: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nade_hidden < 1:
            raise ConfigError(f"model.nade_hidden must be >= 1, got {self.nade_hidden}")


class LSTMNADE(RecurrentModel):
    name = "lstm-nade"
    description = "LSTM over time, NADE over the keys of each frame (notes of a chord depend on each other)"
    Config: ClassVar[type] = NADEConfig
    frames: ClassVar[tuple[str, ...]] = ("binary",)
    cell = nn.LSTM

    def __init__(self, config: NADEConfig, n_features: int) -> None:
        super().__init__(config, n_features)  # the LSTM, and readout: b(t), one bias per key
        d, h = n_features, config.nade_hidden
        self.hidden_bias = nn.Linear(config.hidden_size, h)  # c(t): the NADE's hidden bias
        self.W = nn.Parameter(torch.randn(d, h) * 0.01)  # key k sounding -> NADE hidden input
        self.U = nn.Parameter(torch.randn(d, h) * 0.01)  # NADE hidden -> key k's logit
        # W and U start small, so the inherited set_output_prior starts p(v_k) near its frequency.

    def forward(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``inputs`` ``shape=(B, L, D)`` -> the LSTM's output ``shape=(B, L, hidden_size)``
        (what the NADE is conditioned on) and the recurrent state."""
        return self.features(inputs, state)

    def key_logits(self, context: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Logit of each key given the keys below it: ``context`` ``shape=(..., hidden_size)``,
        ``frames`` ``shape=(..., D)`` of 0/1 -> ``shape=(..., D)``.

        The NADE input ``a_k`` only changes at a sounding key, so a frame with n sounding keys
        has n + 1 distinct hidden vectors ("levels"); computing those instead of D of them makes
        training about ten times faster on sparse piano rolls, with the same result.
        """
        below = (frames.cumsum(-1) - frames).long()  # (..., D): sounding keys strictly below k
        levels = int(frames.sum(-1).max()) + 1 if frames.numel() else 1
        nth = F.one_hot(below, levels).to(frames.dtype) * frames.unsqueeze(-1)  # key k is the s-th sounding
        steps = nth.transpose(-1, -2) @ self.W  # (..., S, H): W row of the s-th sounding key
        inputs = self.hidden_bias(context).unsqueeze(-2) + steps.cumsum(-2) - steps  # a at each level
        per_level = torch.sigmoid(inputs) @ self.U.T  # (..., S, D): U_k . h for every level and key
        return self.readout(context) + per_level.gather(-2, below.unsqueeze(-2)).squeeze(-2)

    def log_prob(self, batch: Batch) -> torch.Tensor:
        """Exact log-likelihood of each target frame, ``shape=(B, L)``, in nats."""
        inputs, targets, _ = next_frame(batch)
        context, _ = self(inputs)
        bce = F.binary_cross_entropy_with_logits(self.key_logits(context, targets), targets, reduction="none")
        return -bce.sum(-1)

    @torch.no_grad()
    def sample_frame(
        self,
        outputs: torch.Tensor,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw one frame ``shape=(B, D)`` key by key, from the lowest key up.

        ``outputs`` is this model's ``forward`` output for the frame: the LSTM context
        ``shape=(B, hidden_size)``.
        ``temperature`` divides each key's conditional logit. ``top_p`` < 1 is nucleus sampling
        of each key's two outcomes: when the likelier outcome has probability >= ``top_p`` it
        is taken, otherwise the key is sampled.
        """
        context = outputs
        bias = self.readout(context)  # (B, D)
        activation = self.hidden_bias(context)  # (B, H)
        frame = torch.zeros_like(bias)
        for k in range(self.n_features):
            logit = bias[:, k] + torch.sigmoid(activation) @ self.U[k]
            p = torch.sigmoid(logit / max(temperature, 1e-6))
            if top_p < 1.0:
                p = torch.where(torch.maximum(p, 1 - p) >= top_p, (p >= 0.5).to(p.dtype), p)
            frame[:, k] = torch.bernoulli(p, generator=generator)
            activation = activation + frame[:, k : k + 1] * self.W[k]
        return frame
