"""Output heads: the distribution of the next frame, apart from the network that predicts it.

A network maps frames to ``n_params`` numbers per frame; a head reads them as the parameters of
a distribution over one frame ``shape=(D,)`` and owns its exact log-likelihood, its sampling and
its start at the data's marginal. Any recurrent or convolutional network takes any head:

- ``bernoulli``: independent keys, one logit each (binary piano-roll frames);
- ``gaussian``: a normal distribution per feature (mean, log standard deviation);
- ``laplace``: a Laplace distribution per feature (location, log scale): an L1 loss, robust to
  the outliers of spectral frames;
- ``mixture``: a mixture of ``components`` Gaussians per feature, for multi-modal features.

A new head is one class here plus one line in ``HEADS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..errors import ConfigError

LOG_SCALE_MIN, LOG_SCALE_MAX = -7.0, 5.0
"""Log standard deviations / scales are clamped here, so a density cannot collapse to a spike."""


@dataclass
class OutputConfig:
    """The output distribution of a next-frame model.

    Attributes:
        head: ``auto`` (bernoulli for binary frames, gaussian for real-valued ones),
            ``bernoulli``, ``gaussian``, ``laplace`` or ``mixture``.
        components: Gaussians per feature of the ``mixture`` head.
    """

    head: str = "auto"
    components: int = 3

    def __post_init__(self) -> None:
        if self.head != "auto" and self.head not in HEADS:
            raise ConfigError(f"model.head must be auto or one of {', '.join(HEADS)}; got {self.head!r}")
        if self.components < 1:
            raise ConfigError(f"model.components must be >= 1, got {self.components}")


class Head:
    """Base class: ``n_params`` numbers per frame -> a distribution over ``n_features`` values."""

    name: ClassVar[str]
    binary: ClassVar[bool]

    def __init__(self, n_features: int, components: int = 1) -> None:
        self.n_features = n_features
        self.components = components

    @property
    def n_params(self) -> int:
        raise NotImplementedError

    def log_prob(self, params: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Log-density of ``targets`` ``shape=(..., D)`` under ``params`` ``shape=(..., n_params)``,
        summed over the features: ``shape=(...)``, in nats."""
        raise NotImplementedError

    def sample(
        self,
        params: torch.Tensor,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One frame ``shape=(B, D)`` per row of ``params`` ``shape=(B, n_params)``."""
        raise NotImplementedError

    def init_bias(self, bias: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set a read-out's ``bias`` ``shape=(n_params,)`` so that the head starts at the data's
        marginal: per-feature ``mean`` and ``std`` ``shape=(D,)`` of the training frames."""
        raise NotImplementedError


class Bernoulli(Head):
    """Independent keys: ``p(x) = prod_k sigmoid(l_k)^x_k (1 - sigmoid(l_k))^(1 - x_k)``."""

    name = "bernoulli"
    binary = True

    @property
    def n_params(self) -> int:
        return self.n_features

    def log_prob(self, params: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(params, targets, reduction="none").sum(-1)

    def sample(self, params, *, temperature=1.0, top_p=1.0, generator=None) -> torch.Tensor:
        """``temperature`` divides the logits; ``top_p`` < 1 keeps, per frame, the most probable
        keys that together carry ``top_p`` of the expected number of sounding keys, and never
        sounds the rest: the multi-label analogue of nucleus sampling."""
        probs = torch.sigmoid(params / max(temperature, 1e-6))
        if top_p < 1.0:
            probs = bernoulli_nucleus(probs, top_p)
        return torch.bernoulli(probs, generator=generator)

    def init_bias(self, bias: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
        with torch.no_grad():
            bias.copy_(torch.logit(mean.clamp(1e-4, 1 - 1e-4)))


class _LocationScale(Head):
    """A location and a log scale per feature; subclasses give the standard density."""

    binary = False

    @property
    def n_params(self) -> int:
        return 2 * self.n_features

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, log_scale = params.split(self.n_features, dim=-1)
        return loc, log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)

    def _standard_log_density(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _standard_quantile(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _scale_of_std(self, std: torch.Tensor) -> torch.Tensor:
        return std

    def log_prob(self, params: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loc, log_scale = self._split(params)
        z = (targets - loc) * torch.exp(-log_scale)
        return (self._standard_log_density(z) - log_scale).sum(-1)

    def sample(self, params, *, temperature=1.0, top_p=1.0, generator=None) -> torch.Tensor:
        """``loc + temperature * scale * z``, with ``z`` drawn from the central ``top_p`` of the
        standard distribution (inverse-CDF sampling, so the tails beyond it never occur)."""
        loc, log_scale = self._split(params)
        u = torch.rand(loc.shape, generator=generator, device=loc.device, dtype=loc.dtype)
        u = 0.5 + (u - 0.5) * top_p
        return loc + temperature * torch.exp(log_scale) * self._standard_quantile(u)

    def init_bias(self, bias: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
        scale = self._scale_of_std(std.clamp_min(1e-3))
        with torch.no_grad():
            bias[: self.n_features].copy_(mean)
            bias[self.n_features :].copy_(scale.log().clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))


class Gaussian(_LocationScale):
    """A normal distribution per feature: mean and log standard deviation."""

    name = "gaussian"

    def _standard_log_density(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * z * z - 0.5 * math.log(2 * math.pi)

    def _standard_quantile(self, u: torch.Tensor) -> torch.Tensor:
        return math.sqrt(2.0) * torch.erfinv((2 * u - 1).clamp(-1 + 1e-7, 1 - 1e-7))


class Laplace(_LocationScale):
    """A Laplace distribution per feature: location and log scale ``b`` (std = b * sqrt 2)."""

    name = "laplace"

    def _standard_log_density(self, z: torch.Tensor) -> torch.Tensor:
        return -z.abs() - math.log(2.0)

    def _standard_quantile(self, u: torch.Tensor) -> torch.Tensor:
        centered = (u - 0.5).clamp(-0.5 + 1e-7, 0.5 - 1e-7)
        return -torch.sign(centered) * torch.log1p(-2 * centered.abs())

    def _scale_of_std(self, std: torch.Tensor) -> torch.Tensor:
        return std / math.sqrt(2.0)


class Mixture(Head):
    """A mixture of ``components`` Gaussians per feature: weights, means, log deviations."""

    name = "mixture"
    binary = False

    @property
    def n_params(self) -> int:
        return 3 * self.components * self.n_features

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shape = (*params.shape[:-1], 3, self.components, self.n_features)
        logits, loc, log_scale = params.reshape(shape).unbind(-3)  # each (..., K, D)
        return logits, loc, log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)

    def log_prob(self, params: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, loc, log_scale = self._split(params)
        z = (targets.unsqueeze(-2) - loc) * torch.exp(-log_scale)
        component = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_scale
        return torch.logsumexp(F.log_softmax(logits, dim=-2) + component, dim=-2).sum(-1)

    def sample(self, params, *, temperature=1.0, top_p=1.0, generator=None) -> torch.Tensor:
        """A component per feature (weights sharpened by ``temperature``), then a draw from it
        as the Gaussian head draws (``top_p`` truncates its tails)."""
        logits, loc, log_scale = self._split(params)  # (B, K, D)
        weights = torch.softmax(logits / max(temperature, 1e-6), dim=-2)
        flat = weights.permute(0, 2, 1).reshape(-1, self.components)
        choice = torch.multinomial(flat, 1, generator=generator).reshape(loc.shape[0], 1, self.n_features)
        mu, ls = loc.gather(-2, choice).squeeze(-2), log_scale.gather(-2, choice).squeeze(-2)
        u = torch.rand(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = math.sqrt(2.0) * torch.erfinv((2 * (0.5 + (u - 0.5) * top_p) - 1).clamp(-1 + 1e-7, 1 - 1e-7))
        return mu + temperature * torch.exp(ls) * z

    def init_bias(self, bias: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Equal weights; component means spread over ``mean +- std / 2`` and component
        deviations chosen so that the mixture's variance is ``std ** 2``."""
        k, d = self.components, self.n_features
        spread = torch.linspace(-0.5, 0.5, k, dtype=bias.dtype, device=bias.device) if k > 1 else bias.new_zeros(1)
        std = std.clamp_min(1e-3)
        inner = std * math.sqrt(1.0 - float((spread**2).mean()))
        with torch.no_grad():
            view = bias.view(3, k, d)
            view[0].zero_()
            view[1].copy_(mean + spread[:, None] * std)
            view[2].copy_(inner.log().clamp(LOG_SCALE_MIN, LOG_SCALE_MAX).expand(k, d))


HEADS: dict[str, type[Head]] = {cls.name: cls for cls in (Bernoulli, Gaussian, Laplace, Mixture)}


def resolve_head(name: str, *, binary: bool) -> str:
    """``auto`` -> the head that fits the frames; a head that does not fit them is a ConfigError."""
    if name == "auto":
        return "bernoulli" if binary else "gaussian"
    if name not in HEADS:
        raise ConfigError(f"model.head must be auto or one of {', '.join(HEADS)}; got {name!r}")
    if HEADS[name].binary != binary:
        kind = "binary (0/1) frames" if binary else "real-valued frames"
        fits = "bernoulli" if binary else "gaussian, laplace or mixture"
        raise ConfigError(f"model.head {name} does not fit this representation's {kind}; use {fits} (or auto)")
    return name


def make_head(name: str, n_features: int, components: int = 1) -> Head:
    """The head called ``name`` (not ``auto``) for frames of ``n_features``."""
    return HEADS[name](n_features, components)


def bernoulli_nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero the tail of independent key probabilities ``shape=(B, D)`` beyond share ``top_p``."""
    sorted_p, order = probs.sort(dim=-1, descending=True)
    cumulative = sorted_p.cumsum(-1)
    total = cumulative[..., -1:].clamp_min(1e-12)
    keep_sorted = (cumulative - sorted_p) < top_p * total  # the key that crosses the line stays
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return probs * keep
