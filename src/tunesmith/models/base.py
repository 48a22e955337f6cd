"""What every sequence model offers the trainer, the evaluator and the sampler.

A model maps input frames ``shape=(B, L, D)`` to the parameters of a distribution over the next
frame and owns that distribution: its loss, its exact log-likelihood and its sampling. The base
class implements independent Bernoulli keys (binary cross-entropy), the classic recipe for
piano-roll frames, where those parameters are one logit per key; families with another output
(e.g. ``nade.py``, whose notes within a frame depend on each other) override ``log_prob`` and
``sample_frame``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

Batch = dict[str, torch.Tensor]


class SequenceModel(nn.Module):
    """Base class: ``forward(inputs, state) -> (outputs, state)`` plus the Bernoulli output.

    Subclasses set ``name``, ``description`` and ``Config`` (a dataclass of options), and
    implement ``forward``. ``n_features`` is the frame width, set from the representation.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config: Any, n_features: int) -> None:
        super().__init__()
        self.config = config
        self.n_features = n_features

    def spec(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild this model: name, options, frame width."""
        return {"name": self.name, "params": asdict(self.config), "n_features": self.n_features}

    def forward(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``inputs`` ``shape=(B, L, D)`` -> output parameters ``shape=(B, L, *)`` and the carried
        state. For the Bernoulli output these are logits ``shape=(B, L, D)``."""
        raise NotImplementedError

    def set_output_prior(self, frequencies: torch.Tensor) -> None:
        """Start the output at the data's marginal: how often each feature is on, ``shape=(D,)``.

        Called once before training from scratch. Without it a fresh model predicts 0.5 for
        every key and spends its first steps learning that frames are sparse. Optional.
        """

    def log_prob(self, batch: Batch) -> torch.Tensor:
        """Log-likelihood of each target frame, ``shape=(B, L)``, in nats (summed over keys)."""
        logits, _ = self(batch["inputs"])
        bce = F.binary_cross_entropy_with_logits(logits, batch["targets"], reduction="none")
        return -bce.sum(-1)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood per masked frame: ``{"loss": scalar, "frames": count}``."""
        mask = batch["mask"]
        nll = -(self.log_prob(batch) * mask).sum()
        frames = mask.sum().clamp_min(1)
        return {"loss": nll / frames, "frames": frames}

    @torch.no_grad()
    def sample_frame(
        self,
        outputs: torch.Tensor,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw one frame ``shape=(B, D)`` of 0/1 from this frame's ``forward`` outputs, here the
        logits ``shape=(B, D)``.

        ``temperature`` divides the logits. ``top_p`` < 1 keeps, per frame, the most probable
        keys that together carry ``top_p`` of the expected number of sounding keys, and never
        sounds the rest: the multi-label analogue of nucleus sampling.
        """
        probs = torch.sigmoid(outputs / max(temperature, 1e-6))
        if top_p < 1.0:
            probs = bernoulli_nucleus(probs, top_p)
        return torch.bernoulli(probs, generator=generator)


def start_bias_at_marginal(readout: nn.Linear, frequencies: torch.Tensor) -> None:
    """Set ``readout``'s bias to the logits of ``frequencies`` (see ``set_output_prior``)."""
    with torch.no_grad():
        readout.bias.copy_(torch.logit(frequencies.clamp(1e-4, 1 - 1e-4)))


def bernoulli_nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero the tail of independent key probabilities ``shape=(B, D)`` beyond share ``top_p``."""
    sorted_p, order = probs.sort(dim=-1, descending=True)
    cumulative = sorted_p.cumsum(-1)
    total = cumulative[..., -1:].clamp_min(1e-12)
    keep_sorted = (cumulative - sorted_p) < top_p * total  # the key that crosses the line stays
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return probs * keep
