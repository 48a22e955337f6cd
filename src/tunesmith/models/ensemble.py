"""Ensemble: several recurrent networks, each key's probability averaged over them.

On a small corpus (JSB Chorales has 229 training chorales) a single network's errors are largely
its own: another initialization, window order and dropout pattern errs elsewhere. Averaging the
members' probabilities cancels much of that variance (Hansen and Salamon 1990; Lakshminarayanan et al.
2017)::

    p_k(t) = (1 / M) * sum_m sigmoid(logit_k^(m)(t))

Each key of the next frame is still an independent Bernoulli variable given the past, now with
the averaged probability, so the ensemble belongs to the same class as ``rnn``/``gru``/``lstm``
and is scored and sampled like them. ``tunesmith train`` trains each member as a run of its own
(``training/ensemble.py``); ``loss``, for a loop of your own, is the mean of the members' own
losses (not the loss of the average, which would let them co-adapt into one larger model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, SequenceModel
from .rnn import GRU, LSTM, RNN, RecurrentConfig

MEMBER_KINDS = {cls.name: cls for cls in (RNN, GRU, LSTM)}


@dataclass
class EnsembleConfig(RecurrentConfig):
    """Each member as in ``RecurrentConfig``; members: how many; member: rnn, gru or lstm."""

    members: int = 2
    member: str = "lstm"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.members < 1:
            raise ConfigError(f"model.members must be >= 1, got {self.members}")
        if self.member not in MEMBER_KINDS:
            raise ConfigError(f"model.member must be one of {', '.join(MEMBER_KINDS)}; got {self.member!r}")

    def member_section(self) -> dict[str, Any]:
        """One member's ``model:`` section: its kind as ``name``, plus the recurrent options."""
        return {"name": self.member, **{f.name: getattr(self, f.name) for f in fields(RecurrentConfig)}}


def mean_probability_logit(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` ``shape=(M, ...)`` -> the logit of the mean of their probabilities, ``shape=(...)``,
    computed in log space so that confident members do not round to 0 or 1."""
    log_members = math.log(logits.shape[0])
    log_on = torch.logsumexp(F.logsigmoid(logits), dim=0) - log_members
    log_off = torch.logsumexp(F.logsigmoid(-logits), dim=0) - log_members
    return log_on - log_off


class Ensemble(SequenceModel):
    name = "ensemble"
    description = "several RNN/GRU/LSTM networks, each key's probability averaged over them; independent keys"
    Config: ClassVar[type] = EnsembleConfig

    def __init__(self, config: EnsembleConfig, n_features: int) -> None:
        super().__init__(config, n_features)
        options = config.member_section()
        kind = MEMBER_KINDS[options.pop("name")]
        self.members = nn.ModuleList(kind(RecurrentConfig(**options), n_features) for _ in range(config.members))

    def set_output_prior(self, frequencies: torch.Tensor) -> None:
        for member in self.members:
            member.set_output_prior(frequencies)

    def forward(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``inputs`` ``shape=(B, L, D)`` -> logits of the averaged probabilities
        ``shape=(B, L, D)``, and the members' states (a list)."""
        states = state if state is not None else [None] * len(self.members)
        outputs = [member(inputs, s) for member, s in zip(self.members, states)]
        logits = torch.stack([logit for logit, _ in outputs])
        return mean_probability_logit(logits), [s for _, s in outputs]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The mean of the members' own losses: each member learns to predict on its own."""
        losses = [member.loss(batch) for member in self.members]
        return {"loss": torch.stack([out["loss"] for out in losses]).mean(), "frames": losses[0]["frames"]}
