"""Ensemble: several networks with independent-key outputs, each key's probability pooled.

On a small corpus (JSB Chorales has 229 training chorales) a single network's errors are largely
its own: another initialization, window order and dropout pattern errs elsewhere, and another
architecture (a short-context ``tcn`` beside a long-memory ``lstm``) errs elsewhere still.
Pooling the members' predictions cancels much of that (Hansen and Salamon 1990;
Lakshminarayanan et al. 2017). With member weights ``w_m`` (positive, summing to one)
``combine`` picks the pooling of each key's probabilities:

    mean:       p_k = sum_m w_m * p_k^(m)
    geometric:  p_k = G_k(1) / (G_k(1) + G_k(0)),  G_k(x) = prod_m P^(m)(key k = x) ** w_m

The geometric pool is a sigmoid of the weighted mean logit. Either way each key of the next
frame is still an independent Bernoulli variable given the past, so the ensemble belongs to the
same class as its members and is scored and sampled like them. The weights start equal;
``tunesmith train`` trains each member as a run of its own and then fits the weights on the
validation split (``training/ensemble.py``), so a member that does not suit a dataset loses its
say. ``loss``, for a loop of your own, is the mean of the members' own losses (not the loss of
the pool, which would let them co-adapt into one larger model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..schema import build_dataclass
from ..sections import TrainConfig
from .base import Batch, SequenceModel
from .rnn import GRU, LSTM, RNN
from .tcn import TCN

MEMBER_KINDS: dict[str, type[SequenceModel]] = {cls.name: cls for cls in (RNN, GRU, LSTM, TCN)}
COMBINE = ("mean", "geometric")


def model_options(section: dict[str, Any]) -> dict[str, Any]:
    """A member section's model options: everything but its ``name`` and ``train`` overrides."""
    return {k: v for k, v in section.items() if k not in ("name", "train")}


def _two_lstms() -> list[dict[str, Any]]:
    return [{"name": "lstm"}, {"name": "lstm"}]


@dataclass
class EnsembleConfig:
    """Several networks trained as runs of their own, each key's probability pooled over them.
    The members are stored with every model option filled in.

    Attributes:
        members: one ``model:`` section per member (``name``: rnn, gru, lstm or tcn, plus that
            model's options; see ``tunesmith models``), optionally with a ``train:`` mapping that
            overrides the run's ``train:`` options for that member's run (say, more epochs for a
            member that learns more slowly). Member ``N`` trains in ``OUT/members/N`` with seed
            ``train.seed + N``.
        combine: ``mean`` or ``geometric`` pooling of each key's probabilities (``geometric``,
            the default, scored better on JSB Chorales' validation split); the members' weights
            are fitted on the validation split after they train.
    """

    members: list[dict[str, Any]] = field(default_factory=_two_lstms)
    combine: str = "geometric"

    def __post_init__(self) -> None:
        if not self.members:
            raise ConfigError("model.members must list at least one member")
        filled = []
        for index, section in enumerate(self.members):
            where = f"model.members[{index}]"
            if not isinstance(section, dict) or section.get("name") not in MEMBER_KINDS:
                raise ConfigError(
                    f"{where} must be a model section whose name is one of {', '.join(MEMBER_KINDS)}; got {section!r}"
                )
            kind = MEMBER_KINDS[section["name"]]
            if section.get("head", "auto") not in ("auto", "bernoulli"):
                raise ConfigError(f"{where}: ensemble members pool key probabilities, so their head is bernoulli")
            try:
                options = build_dataclass(kind.Config, {**model_options(section), "head": "bernoulli"}, prefix="model")
                member = {"name": kind.name, **asdict(options)}
                if "train" in section:  # checked now, not when the member's turn comes
                    build_dataclass(TrainConfig, section["train"], prefix="train")
                    member["train"] = dict(section["train"])
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            filled.append(member)
        self.members = filled
        if self.combine not in COMBINE:
            raise ConfigError(f"model.combine must be one of {', '.join(COMBINE)}; got {self.combine!r}")


def pool_logits(logits: torch.Tensor, combine: str = "geometric", weights: torch.Tensor | None = None) -> torch.Tensor:
    """``logits`` ``shape=(M, ...)`` -> the logit of the pooled probability, ``shape=(...)``.

    ``weights`` ``shape=(M,)``: the members' weights, summing to one (default: equal).
    ``geometric`` is the weighted mean logit; ``mean`` averages probabilities in log space, so
    that confident members do not round to 0 or 1.
    """
    count = logits.shape[0]
    if weights is None:
        weights = logits.new_full((count,), 1.0 / count)
    weights = weights.reshape(count, *([1] * (logits.dim() - 1)))
    if combine == "geometric":
        return (weights * logits).sum(0)
    log_weights = weights.log()
    log_on = torch.logsumexp(F.logsigmoid(logits) + log_weights, dim=0)
    log_off = torch.logsumexp(F.logsigmoid(-logits) + log_weights, dim=0)
    return log_on - log_off


class Ensemble(SequenceModel):
    name = "ensemble"
    description = "several rnn/gru/lstm/tcn networks, each key's probability pooled over them; independent keys"
    Config: ClassVar[type] = EnsembleConfig
    frames: ClassVar[tuple[str, ...]] = ("binary",)
    trains_as_members: ClassVar[bool] = True  # tunesmith train runs each member, then fits the pool

    def __init__(self, config: EnsembleConfig, n_features: int) -> None:
        super().__init__(config, n_features)
        self.members = nn.ModuleList(self._member(section, n_features) for section in config.members)
        # Unnormalized log-weights of the members in the pool; softmax gives ``w_m``.
        self.register_buffer("weight_logits", torch.zeros(len(self.members)))

    @property
    def weights(self) -> torch.Tensor:
        """The members' weights in the pool, ``shape=(M,)``, summing to one."""
        return torch.softmax(self.weight_logits, dim=0)

    @staticmethod
    def _member(section: dict[str, Any], n_features: int) -> SequenceModel:
        kind = MEMBER_KINDS[section["name"]]
        return kind(kind.Config(**{**model_options(section), "head": "bernoulli"}), n_features)

    def set_output_prior(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        for member in self.members:
            member.set_output_prior(mean, std)

    def forward(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``inputs`` ``shape=(B, L, D)`` -> logits of the pooled probabilities
        ``shape=(B, L, D)``, and the members' states (a list)."""
        states = state if state is not None else [None] * len(self.members)
        outputs = [member(inputs, s) for member, s in zip(self.members, states)]
        logits = torch.stack([logit for logit, _ in outputs])
        return pool_logits(logits, self.config.combine, self.weights), [s for _, s in outputs]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The mean of the members' own losses: each member learns to predict on its own."""
        losses = [member.loss(batch) for member in self.members]
        return {"loss": torch.stack([out["loss"] for out in losses]).mean(), "frames": losses[0]["frames"]}
