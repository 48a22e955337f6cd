"""``specgan``: a convolutional GAN on fixed-size patches of spectral frames, after SpecGAN
(Donahue, McAuley & Puckette 2019).

A patch is ``patch_frames`` consecutive frames. With ``layout: image`` (the paper's) it is an
image of ``n_features`` bins by ``patch_frames`` frames: the generator maps a noise vector
through a linear layer and ``layers`` 2-D transposed convolutions (kernel 4, stride 2: each
doubles both sides) to one patch; the discriminator mirrors it with strided convolutions and a
linear score. With ``layout: frames`` the convolutions run over time only and the bins are
channels (as a 1-D signal of spectral frames), so every layer sees the whole spectrum of its
frames and relates bands an octave apart, which a small 2-D kernel cannot. Any frame width
works: both players work at sizes rounded up to a multiple of ``2 ** layers``; the generator's
output is cropped to the patch, and the discriminator's input is zero-padded to the rounded
size. ``blur`` low-passes the generator's activations after every upsampling ([1, 2, 1] / 4
along each axis, as StyleGAN filters its upsampling): transposed convolutions with stride 2
leave values alternating between neighbours (the checkerboard), which on a spectrogram is
frame-to-frame flicker.

Frames arrive standardized per bin by the spectral representation, which is SpecGAN's per-bin
normalization; sound comes back through the representation's Griffin-Lim. The default loss is
WGAN-GP, as in the paper. Generation of any length joins independent patches with a short
linear crossfade; a patch does not know the one before it, so a primer cannot be continued.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .adversarial import AdversarialConfig, AdversarialModel, present_frames, spectral_normed, with_batch_spread
from .base import Batch

LAYOUTS = ("image", "frames")


@dataclass
class SpecGANConfig(AdversarialConfig):
    """SpecGAN: transposed-convolution generator and convolution discriminator on patches.

    Attributes:
        loss: ``wgan-gp`` (the paper's), ``hinge`` or ``bce``.
        patch_frames: frames per patch; ``data.seq_len`` must be at least this.
        noise_size: length of the generator's noise vector.
        channels: channels of the generator's last hidden layer and of the discriminator's
            first; they double at each stage further from the patch.
        layers: upsampling (downsampling) stages of the generator (discriminator); each doubles
            (halves) both sides of the image.
        crossfade: frames over which consecutive generated patches are blended.
        layout: ``image`` (2-D convolutions over bins and frames, the paper's) or ``frames``
            (1-D convolutions over frames, the bins as channels).
        blur: low-pass the generator's activations after every upsampling stage.
    """

    loss: str = "wgan-gp"
    patch_frames: int = 64
    noise_size: int = 100
    channels: int = 32
    layers: int = 4
    crossfade: int = 8
    layout: str = "image"
    blur: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("patch_frames", "noise_size", "channels", "layers"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"model.layout must be one of {', '.join(LAYOUTS)}; got {self.layout!r}")
        if self.layers > 8:
            raise ConfigError(f"model.layers must be <= 8, got {self.layers}")
        if not 0 <= self.crossfade < self.patch_frames:
            raise ConfigError(
                f"model.crossfade must be in [0, model.patch_frames); got {self.crossfade} with {self.patch_frames}"
            )


def _rounded(size: int, factor: int) -> int:
    """The smallest multiple of ``factor`` at least ``size``, divided by ``factor``."""
    return math.ceil(size / factor)


def low_pass(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``shape=(B, C, ...)`` filtered with [1, 2, 1] / 4 along every axis after the first
    two, edges repeated: a value alternating between neighbours is removed, a constant kept."""
    for axis in range(2, x.dim()):
        size = x.shape[axis]
        padded = torch.cat([x.narrow(axis, 0, 1), x, x.narrow(axis, size - 1, 1)], dim=axis)
        x = 0.25 * padded.narrow(axis, 0, size) + 0.5 * x + 0.25 * padded.narrow(axis, 2, size)
    return x


class PatchGenerator(nn.Module):
    """Noise ``shape=(B, noise_size)`` -> patches ``shape=(B, patch_frames, n_features)``."""

    def __init__(self, config: SpecGANConfig, n_features: int) -> None:
        super().__init__()
        factor = 2**config.layers
        self.n_features, self.patch_frames = n_features, config.patch_frames
        self.base = (_rounded(n_features, factor), _rounded(config.patch_frames, factor))
        widths = [config.channels * 2 ** (config.layers - 1 - i) for i in range(config.layers)] + [1]
        self.project = nn.Linear(config.noise_size, widths[0] * self.base[0] * self.base[1])
        self.stages = nn.ModuleList(
            nn.ConvTranspose2d(widths[i], widths[i + 1], 4, stride=2, padding=1) for i in range(config.layers)
        )
        self.blur = config.blur

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.project(noise)).view(len(noise), -1, *self.base)
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if self.blur:
                x = low_pass(x)
            if index < len(self.stages) - 1:
                x = F.relu(x)
        return x[:, 0, : self.n_features, : self.patch_frames].transpose(1, 2)


class FrameGenerator(nn.Module):
    """Noise ``shape=(B, noise_size)`` -> patches ``shape=(B, patch_frames, n_features)`` through
    ``layers`` 1-D transposed convolutions over time, then a convolution (kernel 3) whose output
    channels are the bins."""

    def __init__(self, config: SpecGANConfig, n_features: int) -> None:
        super().__init__()
        factor = 2**config.layers
        self.patch_frames = config.patch_frames
        self.base = _rounded(config.patch_frames, factor)
        widths = [config.channels * 2 ** (config.layers - 1 - i) for i in range(config.layers)] + [config.channels]
        self.project = nn.Linear(config.noise_size, widths[0] * self.base)
        self.stages = nn.ModuleList(
            nn.ConvTranspose1d(widths[i], widths[i + 1], 4, stride=2, padding=1) for i in range(config.layers)
        )
        self.out = nn.Conv1d(config.channels, n_features, 3, padding=1)
        self.blur = config.blur

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.project(noise)).view(len(noise), -1, self.base)
        for stage in self.stages:
            x = stage(x)
            if self.blur:
                x = low_pass(x)
            x = F.relu(x)
        return self.out(x)[:, :, : self.patch_frames].transpose(1, 2)


class PatchDiscriminator(nn.Module):
    """Patches ``shape=(B, patch_frames, n_features)`` -> scores ``shape=(B,)`` and the
    flattened features before the score ``shape=(B, F)``: strided 2-D convolutions over the
    image of bins by frames (``layout: image``) or 1-D ones over frames with the bins as input
    channels (``layout: frames``)."""

    def __init__(self, config: SpecGANConfig, n_features: int) -> None:
        super().__init__()
        factor = 2**config.layers
        frames = _rounded(config.patch_frames, factor) * factor
        self.image = config.layout == "image"
        self.size = (_rounded(n_features, factor) * factor, frames) if self.image else (frames,)
        conv = nn.Conv2d if self.image else nn.Conv1d
        widths = [1 if self.image else n_features] + [config.channels * 2**i for i in range(config.layers)]
        self.stages = nn.ModuleList(
            spectral_normed(conv(widths[i], widths[i + 1], 4, stride=2, padding=1), config.spectral_norm)
            for i in range(config.layers)
        )
        features = widths[-1] * math.prod(side // factor for side in self.size)
        self.minibatch_std = config.minibatch_std
        extra = 1 if config.minibatch_std else 0
        self.score = spectral_normed(nn.Linear(features + extra, 1), config.spectral_norm)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = patches.transpose(1, 2)  # (B, bins, frames)
        if self.image:
            x = x.unsqueeze(1)  # (B, 1, bins, frames)
            x = F.pad(x, (0, self.size[1] - x.shape[-1], 0, self.size[0] - x.shape[-2]))
        else:
            x = F.pad(x, (0, self.size[0] - x.shape[-1]))
        for stage in self.stages:
            x = F.leaky_relu(stage(x), 0.2)
        features = x.flatten(1)
        # with minibatch_std every patch's score also reads how much the batch's patches differ
        scored = with_batch_spread(features, features) if self.minibatch_std else features
        return self.score(scored).squeeze(-1), features


class SpecGAN(AdversarialModel):
    name = "specgan"
    description = "SpecGAN: convolutional GAN on patches of spectral frames (WGAN-GP); any length, no primer"
    Config = SpecGANConfig
    frames = ("continuous",)

    def __init__(self, config: SpecGANConfig, n_features: int) -> None:
        super().__init__(config, n_features)
        self.generator = (PatchGenerator if config.layout == "image" else FrameGenerator)(config, n_features)
        self.discriminator = PatchDiscriminator(config, n_features)

    @classmethod
    def check_data(cls, options: dict[str, Any], data: Any) -> None:
        """A training window must hold one patch: ``data.seq_len >= model.patch_frames``."""
        if data.seq_len < options["patch_frames"]:
            raise ConfigError(
                f"data.seq_len ({data.seq_len}) is shorter than model.patch_frames ({options['patch_frames']}): "
                "raise data.seq_len or lower model.patch_frames"
            )

    def set_output_prior(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Nothing: patches start near zero, the standardized frames' mean."""

    # -- the players -----------------------------------------------------------------------------
    def real(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One patch per row at a random offset inside its music, ``shape=(K, patch_frames, D)``.
        Rows shorter than a patch are left out (while training, they are kept, zero-padded, if
        no row of the batch is long enough). A training window shorter than a patch is a
        ConfigError: ``data.seq_len`` is below ``model.patch_frames``."""
        size = self.config.patch_frames
        frames = batch["frames"][:, 1:]
        if self.training and frames.shape[1] < size:
            raise ConfigError(
                f"data.seq_len ({frames.shape[1]}) is shorter than model.patch_frames ({size}): "
                "raise data.seq_len or lower model.patch_frames"
            )
        lengths = present_frames(batch["mask"][:, 1:]).sum(1).long()
        keep = lengths >= size
        if self.training and not keep.any():
            keep = torch.ones_like(keep)
        frames, lengths = frames[keep], lengths[keep]
        if frames.shape[1] < size:
            frames = F.pad(frames, (0, 0, 0, size - frames.shape[1]))
        room = (lengths - size).clamp_min(0) + 1
        offsets = (torch.rand(len(frames), device=frames.device) * room).long()
        index = offsets[:, None] + torch.arange(size, device=frames.device)
        patches = frames.gather(1, index.unsqueeze(-1).expand(-1, -1, frames.shape[-1]))
        return patches, patches.new_ones(patches.shape[:2])

    def fakes(self, batch: Batch, *, hard: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """As many patches as the batch has rows, from fresh noise."""
        rows = batch["frames"].shape[0]
        noise = torch.randn(rows, self.config.noise_size, device=batch["frames"].device)
        patches = self.generator(noise)
        return patches, patches.new_ones(patches.shape[:2])

    def discriminate(self, windows: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.discriminator(windows)

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
        """``num`` sequences of ``length`` frames ``shape=(num, length, D)``: independent patches
        (noise scaled by ``temperature``), consecutive ones blended over ``crossfade`` frames.
        ``context`` ``shape=(C, D)`` must be the silent start frame alone (``C == 1``): a primer is
        a ConfigError. ``top_p`` has no meaning here; ``repair`` is applied frame by frame."""
        if context.shape[0] > 1:
            raise ConfigError(
                "specgan cannot continue a primer: it draws independent patches of frames; generate without --primer"
            )
        size, fade = self.config.patch_frames, self.config.crossfade
        hop = size - fade
        count = max(1, math.ceil((length - fade) / hop))
        noise = torch.randn(num * count, self.config.noise_size, generator=generator, device=context.device)
        patches = self.generator(temperature * noise.to(context.dtype)).view(num, count, size, -1)
        out = patches.new_zeros(num, hop * (count - 1) + size, patches.shape[-1])
        weight = patches.new_zeros(1, out.shape[1], 1)
        ramp = torch.ones(size, device=out.device, dtype=out.dtype)
        if fade:
            edge = torch.linspace(0.0, 1.0, fade + 2, device=out.device, dtype=out.dtype)[1:-1]
            ramp[:fade], ramp[-fade:] = edge, edge.flip(0)
        for index in range(count):
            shape = ramp.clone()
            if index == 0 and fade:
                shape[:fade] = 1.0
            if index == count - 1 and fade:
                shape[-fade:] = 1.0
            start = index * hop
            out[:, start : start + size] += patches[:, index] * shape[None, :, None]
            weight[:, start : start + size] += shape[None, :, None]
        frames = (out / weight)[:, :length]
        if repair is None:
            return frames
        last = context[-1:].expand(num, -1).cpu().numpy()
        fixed = []
        for t in range(length):
            frame = repair(frames[:, t].cpu().numpy(), last)
            fixed.append(torch.from_numpy(frame).to(frames))
            last = frame
        return torch.stack(fixed, dim=1)
