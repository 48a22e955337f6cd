"""A denoising autoencoder over STFT frames: it learns to undo damage it simulates itself.

The family trains through the one trainer on clean ``stft`` frames (standardized dB
magnitudes, see ``representation/spectral.py``). Each training step damages the clean window in
the magnitude domain, then learns to map the damaged frames back to the clean ones:

- white noise at a random SNR: a circular complex Gaussian per bin added to the clean
  magnitude. ``|S e^{i phi} + N|`` has the distribution of the STFT magnitude of signal plus white
  noise whatever the phase ``phi``, so the clean phase is not needed;
- clicks: broadband bursts (complex Gaussian, flat over the bins) in a few frames;
- band-limiting: every bin above a random cutoff removed;
- dropouts: runs of frames set to silence.

The representation's per-bin mean and spread and its dB floor are copied into buffers before
training (``adapt``), so the model converts between standardized dB and magnitudes by itself and
every checkpoint carries what restoration needs. The network is a stack of dilated residual
convolutions over time that predicts a correction to the damaged frames (it starts as the
identity). A denoiser does not generate music (``generates = False``): ``tunesmith restore``
uses it (:mod:`tunesmith.restore`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, SequenceModel

VALIDATION_SEED = 20240613
"""Seed of the damage validation applies, the same every epoch so the numbers compare."""


@dataclass
class DenoiserConfig:
    """The network and the damage it learns to undo.

    Attributes:
        hidden_size: channels of the convolutions.
        num_layers: residual blocks; block ``i`` looks ``dilation 2**i`` frames apart.
        kernel_size: frames each convolution reads (odd).
        noise_prob: share of training windows that get white noise.
        noise_snr_min: lowest SNR of that noise, dB (over the window's power).
        noise_snr_max: highest SNR of that noise, dB.
        click_prob: share of windows that get clicks.
        click_count: clicks in such a window, at most.
        click_db: a click's power per bin, dB above the window's mean power per bin.
        band_prob: share of windows that are band-limited.
        band_min: lowest cutoff, as a share of the bins (the bins above the cutoff are removed).
        dropout_prob: share of windows with a dropout (a run of silent frames).
        dropout_frames: longest dropout, in frames.
        magnitude_weight: weight of a second loss term in linear magnitudes, the squared
            spectral convergence ``sum |repaired - clean|^2 / sum |clean|^2`` of each window, which
            counts the error where the sound is loud (what the waveform SNR hears); 0: the mean
            squared error in standardized dB alone, which weighs quiet bins as much as loud ones.
    """

    hidden_size: int = 128
    num_layers: int = 4
    kernel_size: int = 5
    noise_prob: float = 0.8
    noise_snr_min: float = 0.0
    noise_snr_max: float = 20.0
    click_prob: float = 0.2
    click_count: int = 4
    click_db: float = 10.0
    band_prob: float = 0.2
    band_min: float = 0.25
    dropout_prob: float = 0.2
    dropout_frames: int = 8
    magnitude_weight: float = 20.0

    def __post_init__(self) -> None:
        for key in ("hidden_size", "num_layers", "click_count", "dropout_frames"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"model.kernel_size must be odd and >= 1, got {self.kernel_size}")
        for key in ("noise_prob", "click_prob", "band_prob", "dropout_prob"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"model.{key} must be in [0, 1], got {getattr(self, key)}")
        if self.noise_snr_min > self.noise_snr_max:
            raise ConfigError(
                f"model.noise_snr_min ({self.noise_snr_min}) must not exceed model.noise_snr_max ({self.noise_snr_max})"
            )
        if not 0.0 < self.band_min <= 1.0:
            raise ConfigError(f"model.band_min must be in (0, 1], got {self.band_min}")
        if self.magnitude_weight < 0:
            raise ConfigError(f"model.magnitude_weight must be >= 0, got {self.magnitude_weight}")


# -- damage, in the magnitude domain ---------------------------------------------------------------
def window_power(magnitude: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean power per bin of each window over its masked frames: ``magnitude`` ``shape=(B, T, D)``,
    ``mask`` ``shape=(B, T)`` -> ``shape=(B,)``."""
    frames = mask.sum(1).clamp_min(1.0) * magnitude.shape[-1]
    return (magnitude.square() * mask.unsqueeze(-1)).sum((1, 2)) / frames


def _complex_noise(shape: torch.Size, power: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Circular complex Gaussian of mean power ``power`` (broadcast against ``shape``)."""
    device = power.device
    real = torch.randn(shape, generator=generator, device=device)
    imag = torch.randn(shape, generator=generator, device=device)
    return torch.complex(real, imag) * (power / 2).sqrt()


def add_noise(
    magnitude: torch.Tensor, mask: torch.Tensor, snr_db: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """White noise at ``snr_db`` ``shape=(B,)`` per window, over each window's mean power.

    ``magnitude`` ``shape=(B, T, D)`` (linear STFT magnitudes), ``mask`` ``shape=(B, T)``.
    Returns ``|magnitude + N|`` where ``N`` is circular complex Gaussian with ``E|N|^2`` equal to
    the window's mean power per bin divided by ``10**(snr_db / 10)``: as the STFT magnitude of
    the signal plus white noise at that SNR, whatever the signal's phase."""
    power = window_power(magnitude, mask) / 10.0 ** (snr_db / 10.0)
    noise = _complex_noise(magnitude.shape, power.view(-1, 1, 1), generator)
    return (magnitude + noise).abs()


def add_clicks(
    magnitude: torch.Tensor,
    mask: torch.Tensor,
    count: torch.Tensor,
    level_db: float,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Up to ``count`` ``shape=(B,)`` broadband bursts per window, in random frames.

    A burst is complex Gaussian of power ``level_db`` dB above the window's mean power per bin,
    flat over the bins, added to every bin of its frame. ``magnitude`` ``shape=(B, T, D)``."""
    batch, length, _ = magnitude.shape
    device = magnitude.device
    power = window_power(magnitude, mask).clamp_min(1e-12) * 10.0 ** (level_db / 10.0)
    slots = int(count.max().item()) if count.numel() else 0
    hit = torch.zeros(batch, length, device=device)
    for slot in range(slots):
        frame = torch.randint(0, length, (batch,), generator=generator, device=device)
        hit[torch.arange(batch, device=device), frame] += (slot < count).float()
    hit = hit.clamp(max=1.0).unsqueeze(-1)
    burst = _complex_noise(magnitude.shape, power.view(-1, 1, 1), generator)
    return torch.where(hit > 0, (magnitude + burst).abs(), magnitude)


def band_limit(magnitude: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
    """Remove every bin at or above ``cutoff`` ``shape=(B,)`` (a bin index per window):
    ``magnitude`` ``shape=(B, T, D)`` with those bins set to 0."""
    bins = torch.arange(magnitude.shape[-1], device=magnitude.device)
    keep = bins.view(1, 1, -1) < cutoff.view(-1, 1, 1)
    return magnitude * keep


def drop_frames(magnitude: torch.Tensor, start: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """Silence frames ``start .. start + length - 1`` of each window (``shape=(B,)`` each):
    ``magnitude`` ``shape=(B, T, D)`` with those frames set to 0."""
    frames = torch.arange(magnitude.shape[1], device=magnitude.device).view(1, -1)
    gap = (frames >= start.view(-1, 1)) & (frames < (start + length).view(-1, 1))
    return magnitude * ~gap.unsqueeze(-1)


# -- the network ------------------------------------------------------------------------------------
class _FrameNorm(nn.LayerNorm):
    """Layer norm over the channels of each frame, ``shape=(B, C, T)``: nothing is pooled over
    time, so a frame's repair depends on its neighbours only, never on how long the window is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class _Block(nn.Module):
    """``x + W2 gelu(dilated conv(norm(x)))`` over time, ``shape=(B, C, T)``."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.norm = _FrameNorm(channels)
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=padding, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.gelu(self.conv(self.norm(x))))


class Denoiser(SequenceModel):
    """Damaged standardized STFT frames ``shape=(B, T, D)`` -> clean ones, by a residual
    stack of dilated convolutions over time."""

    name = "denoiser"
    description = (
        "denoising autoencoder on stft frames: repairs noise, clicks, band-limiting and dropouts "
        "(use tunesmith restore; it does not generate)"
    )
    Config: ClassVar[type] = DenoiserConfig
    frames: ClassVar[tuple[str, ...]] = ("continuous",)
    best_metric: ClassVar[str] = "sc"  # the magnitudes' error where the sound is: what the waveform SNR hears
    likelihood: ClassVar[bool] = False
    carries_state: ClassVar[bool] = False
    generates: ClassVar[bool] = False

    def __init__(self, config: DenoiserConfig, n_features: int) -> None:
        super().__init__(config, n_features)
        hidden = config.hidden_size
        self.encode_in = nn.Conv1d(n_features, hidden, 1)
        self.blocks = nn.ModuleList(_Block(hidden, config.kernel_size, 2**i) for i in range(config.num_layers))
        self.norm = _FrameNorm(hidden)
        self.decode_out = nn.Conv1d(hidden, n_features, 1)
        nn.init.zeros_(self.decode_out.weight)  # starts as the identity: damaged in, damaged out
        nn.init.zeros_(self.decode_out.bias)
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.register_buffer("floor_db", torch.tensor(-80.0))

    @property
    def binary(self) -> bool:
        """A denoiser's frames are real-valued."""
        return False

    def adapt(self, representation: Any) -> None:
        """Keep the ``stft`` representation's per-bin mean and std (dB) and its floor."""
        if getattr(representation, "name", None) != "stft":
            raise ConfigError(
                f"model denoiser works on stft frames, not {getattr(representation, 'name', representation)!r}; "
                "set representation.name: stft"
            )
        if "mean" not in representation.state:
            raise ConfigError("model denoiser needs a fitted stft representation (its per-bin mean and std)")
        self.mean.copy_(torch.as_tensor(representation.state["mean"], dtype=torch.float32))
        self.std.copy_(torch.as_tensor(representation.state["std"], dtype=torch.float32))
        self.floor_db.fill_(float(representation.config.floor_db))

    # -- between standardized dB and magnitudes ----------------------------------------------------
    def to_magnitude(self, frames: torch.Tensor) -> torch.Tensor:
        """Standardized dB frames ``shape=(..., D)`` -> linear STFT magnitudes (the floor kept)."""
        db = torch.maximum(frames * self.std + self.mean, self.floor_db)
        return 10.0 ** (db / 20.0)

    def from_magnitude(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Linear STFT magnitudes ``shape=(..., D)`` -> standardized dB frames, floored as the
        representation floors them."""
        db = torch.maximum(20.0 * torch.log10(magnitude.clamp_min(1e-12)), self.floor_db)
        return (db - self.mean) / self.std

    # -- damage and repair -----------------------------------------------------------------------
    def damage(
        self, frames: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Damage clean standardized frames ``shape=(B, T, D)`` (``mask`` ``shape=(B, T)``: the
        real frames) as the config says, each kind with its probability per window."""
        c = self.config
        batch, length, width = frames.shape
        device = frames.device

        def chosen(prob: float) -> torch.Tensor:
            return torch.rand(batch, generator=generator, device=device) < prob

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(batch, generator=generator, device=device)

        clean = self.to_magnitude(frames)
        out = clean
        # each kind draws its random numbers whether it applies or not, so the draws line up
        snr = uniform(c.noise_snr_min, c.noise_snr_max)
        out = torch.where(chosen(c.noise_prob).view(-1, 1, 1), add_noise(out, mask, snr, generator=generator), out)
        count = torch.randint(1, c.click_count + 1, (batch,), generator=generator, device=device)
        count = count * chosen(c.click_prob)
        out = add_clicks(out, mask, count, c.click_db, generator=generator)
        cutoff = (uniform(c.band_min, 1.0) * width).long()
        out = torch.where(chosen(c.band_prob).view(-1, 1, 1), band_limit(out, cutoff), out)
        gap = torch.randint(1, c.dropout_frames + 1, (batch,), generator=generator, device=device)
        start = (uniform(0.0, 1.0) * length).long()
        out = torch.where(chosen(c.dropout_prob).view(-1, 1, 1), drop_frames(out, start, gap), out)
        return self.from_magnitude(out)

    def denoise(self, frames: torch.Tensor) -> torch.Tensor:
        """Damaged standardized frames ``shape=(B, T, D)`` -> restored ones, same shape."""
        x = self.encode_in(frames.transpose(1, 2))
        for block in self.blocks:
            x = block(x)
        return frames + self.decode_out(F.gelu(self.norm(x))).transpose(1, 2)

    def forward(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, None]:
        """``inputs`` ``shape=(B, T, D)`` (damaged) -> ``(restored, None)``; no state is carried."""
        return self.denoise(inputs), None

    def _repair(self, batch: Batch, *, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Damage the batch's clean frames and repair them: ``(damaged, repaired)`` ``shape=(B, T, D)``."""
        damaged = self.damage(batch["frames"], batch["mask"], generator=generator)
        return damaged, self.denoise(damaged)

    def _spectral_convergence(self, repaired: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Squared spectral convergence of each window's magnitudes over its masked frames ``shape=(B,)``."""
        target = self.to_magnitude(clean)
        error = (self.to_magnitude(repaired) - target).square()
        weight = mask.unsqueeze(-1)
        return (error * weight).sum((1, 2)) / (target.square() * weight).sum((1, 2)).clamp_min(1e-12)

    # -- the trainer's contract ----------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The repair of freshly damaged frames: mean squared error in standardized dB plus
        ``magnitude_weight`` times the mean squared spectral convergence of the magnitudes.
        ``{"loss": scalar, "mse": .., "sc": .., "frames": count}``."""
        frames, mask = batch["frames"], batch["mask"]
        _, repaired = self._repair(batch, generator=None)
        weight = mask.unsqueeze(-1)
        mse = ((repaired - frames).square() * weight).sum() / (weight.sum() * frames.shape[-1]).clamp_min(1.0)
        out = {"mse": mse.detach(), "frames": mask.sum().clamp_min(1.0)}
        loss = mse
        if self.config.magnitude_weight:
            sc = self._spectral_convergence(repaired, frames, mask).mean()
            loss = loss + self.config.magnitude_weight * sc
            out["sc"] = sc.detach()
        return {"loss": loss, **out}

    @torch.no_grad()
    def validation_sums(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Against the clean frames, under one fixed seeded damage (so epochs compare): ``mse``
        (repaired) and ``noisy_mse`` (damaged), per bin in standardized dB; ``sc`` and
        ``noisy_sc``, the squared spectral convergence of the magnitudes per window."""
        generator = torch.Generator(device=batch["frames"].device)
        generator.manual_seed(VALIDATION_SEED)
        frames, mask = batch["frames"], batch["mask"]
        damaged, repaired = self._repair(batch, generator=generator)
        weight = mask.unsqueeze(-1)
        count = mask.sum() * frames.shape[-1]
        windows = (mask.sum(1) > 0).sum()
        return {
            "mse": (((repaired - frames).square() * weight).sum(), count),
            "noisy_mse": (((damaged - frames).square() * weight).sum(), count),
            "sc": (self._spectral_convergence(repaired, frames, mask).sum(), windows),
            "noisy_sc": (self._spectral_convergence(damaged, frames, mask).sum(), windows),
        }

    def diagnose(self, metrics: dict[str, float]) -> dict[str, str | None]:
        """Warn when the repair is no better than the damage it was given."""
        after, before = metrics.get("valid_mse"), metrics.get("valid_noisy_mse")
        if after is None or before is None or not math.isfinite(after) or after < before:
            return {"no_repair": None}
        message = f"repaired frames (mse {after:.4f}) are no closer to the clean ones than the damaged ({before:.4f})"
        return {"no_repair": message}

    def generate(self, context: torch.Tensor, **options: Any) -> torch.Tensor:
        """A denoiser does not generate: a ConfigError that points to ``tunesmith restore``."""
        raise ConfigError(f"model {self.name} restores recordings and does not generate; use tunesmith restore")
