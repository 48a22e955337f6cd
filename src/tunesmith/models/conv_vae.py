"""Convolutional autoencoders of spectral patches: ``conv-vae`` and ``conv-ae``.

A patch of ``patch_frames`` spectral frames (mel, STFT or MFCC) is a one-channel image
``shape=(B, 1, patch_frames, n_features)``. Strided 2-D convolutions (``levels`` of them, each
halving time and frequency and doubling the channels) and a linear layer give the latent vector
``z`` (its mean and log-variance for the VAE); a linear layer and transposed convolutions draw
the patch back. Time and frequency are zero-padded up to a multiple of ``2 ** levels`` and the
output cropped, so any frame width works. The reconstruction is Gaussian (or Laplace) with a
learned scale per feature, so ``recon_nll`` is in nats per frame like every other model's.

The KL options, the phrase windows (here: patches), validation metrics and sampling from the
prior are those of :class:`~tunesmith.models.vae.Autoencoder`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .heads import LOG_SCALE_MAX, LOG_SCALE_MIN, OutputConfig
from .vae import Autoencoder, KLConfig


@dataclass
class ConvAEConfig(OutputConfig):
    """A strided 2-D convolutional encoder and decoder around a latent vector.

    Attributes:
        patch_frames: frames per patch; longer windows are cut into consecutive patches.
        channels: channels of the first convolution (doubled at each further level).
        levels: strided convolutions (each halves time and frequency).
        latent_size: dimensions of the latent vector ``z``.
    """

    patch_frames: int = 64
    channels: int = 32
    levels: int = 3
    latent_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.head not in ("auto", "gaussian", "laplace"):
            raise ConfigError(
                f"model.head must be gaussian or laplace for a convolutional autoencoder, got {self.head!r}"
            )
        for key in ("patch_frames", "channels", "levels", "latent_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.levels > 6:
            raise ConfigError(f"model.levels must be at most 6, got {self.levels}")


@dataclass
class ConvVAEConfig(ConvAEConfig, KLConfig):
    """The convolutional autoencoder with a variational latent vector and the KL options."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_kl()


def _padded(size: int, levels: int) -> int:
    step = 2**levels
    return math.ceil(size / step) * step


class ConvAE(Autoencoder):
    """The convolutional autoencoder; ``ConvVAE`` adds the variational latent vector."""

    name = "conv-ae"
    description = "convolutional autoencoder of spectral patches (deterministic latent vector)"
    Config: ClassVar[type] = ConvAEConfig
    frames = ("continuous",)
    variational = False
    best_metric = "recon_nll"

    def __init__(self, config: ConvAEConfig, n_features: int) -> None:
        super().__init__(config, n_features)
        levels, c = config.levels, config.channels
        self.time, self.freq = _padded(config.patch_frames, levels), _padded(n_features, levels)
        self.inner = (c * 2 ** (levels - 1), self.time // 2**levels, self.freq // 2**levels)
        flat = self.inner[0] * self.inner[1] * self.inner[2]
        down, width = [], 1
        for level in range(levels):
            down += [nn.Conv2d(width, c * 2**level, 4, stride=2, padding=1), nn.GELU()]
            width = c * 2**level
        self.encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(flat, 2 * config.latent_size))
        up = []
        for level in reversed(range(levels)):
            out = c * 2 ** (level - 1) if level else c
            up += [nn.ConvTranspose2d(width, out, 4, stride=2, padding=1), nn.GELU()]
            width = out
        self.from_latent = nn.Linear(config.latent_size, flat)
        self.decoder = nn.Sequential(*up, nn.Conv2d(width, 1, 3, padding=1))
        self.loc_bias = nn.Parameter(torch.zeros(n_features))
        self.log_scale = nn.Parameter(torch.zeros(n_features))

    def window_size(self) -> int:
        return self.config.patch_frames

    def set_output_prior(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Start the reconstruction at the data's per-feature ``mean`` and ``std`` ``shape=(D,)``."""
        with torch.no_grad():
            self.loc_bias.copy_(mean)
            scale = self.head._scale_of_std(std.clamp_min(1e-3))
            self.log_scale.copy_(scale.log().clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))

    def encode_params(self, frames: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches ``shape=(B, patch_frames, D)`` -> ``mu``, ``logvar`` ``shape=(B, Z)``; frames
        outside ``mask`` read as zeros (the training mean)."""
        x = (frames * mask.unsqueeze(-1)).unsqueeze(1)
        x = F.pad(x, (0, self.freq - x.shape[-1], 0, self.time - x.shape[-2]))
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 10.0)

    def _params(self, z: torch.Tensor, length: int) -> torch.Tensor:
        """Latents ``shape=(B, Z)`` -> head parameters ``shape=(B, length, 2 * D)`` (``length`` at
        most the padded patch)."""
        x = self.decoder(self.from_latent(z).reshape(len(z), *self.inner))
        loc = x[:, 0, :length, : self.n_features] + self.loc_bias
        return torch.cat([loc, self.log_scale.expand_as(loc)], dim=-1)

    def reconstruction_params(self, z: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        return self._params(z, frames.shape[1])

    @torch.no_grad()
    def decode(self, z, length, *, temperature=0.0, top_p=1.0, generator=None, repair=None) -> torch.Tensor:
        """Latents ``shape=(B, Z)`` -> frames ``shape=(B, length, D)``, ``length`` at most
        ``patch_frames`` (a longer piece is several patches: see ``generate``): the mean when
        ``temperature`` is below ``GREEDY_BELOW``, drawn from the head otherwise."""
        length = min(length, self.config.patch_frames)
        return self.draw(self._params(z, length), temperature=temperature, top_p=top_p, generator=generator)


class ConvVAE(ConvAE):
    name = "conv-vae"
    description = "convolutional variational autoencoder of spectral patches (mel, STFT): KL annealing, free bits"
    Config = ConvVAEConfig
    variational = True
    best_metric = "elbo_bound"
