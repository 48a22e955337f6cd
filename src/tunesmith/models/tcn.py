"""Temporal convolutional network (Bai, Kolter and Koltun 2018) over piano-roll frames.

A stack of residual blocks of causal, dilated 1-D convolutions over time (dilation ``2**level``)
reads the last ``receptive_field`` frames and predicts one logit per key of the next frame:
independent Bernoulli keys, like ``rnn``/``gru``/``lstm``. Its context is short and fixed (13
frames for the defaults), which on chorales and folk tunes is most of what matters; its errors
differ from a recurrent network's, so it also makes a good ensemble member.

The carried ``state`` is the last ``receptive_field - 1`` input frames: feeding a piece in
pieces, or one frame at a time when sampling, gives exactly the outputs of one pass over all of
it. Before the first frame the network sees frames of zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ..errors import ConfigError
from .base import SequenceModel
from .heads import OutputConfig


@dataclass
class TCNConfig(OutputConfig):
    """Residual blocks of causal, dilated convolutions; each prediction reads the last
    ``1 + 2 (kernel_size - 1) (2**levels - 1)`` frames.

    Attributes:
        channels: width of every block.
        levels: residual blocks, block ``i`` dilated by ``2**i``.
        kernel_size: taps per convolution.
        dropout: after every convolution.
    """

    channels: int = 150
    levels: int = 2
    kernel_size: int = 3
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("channels", "levels", "kernel_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")

    @property
    def receptive_field(self) -> int:
        """Frames one output reads: the newest input and ``receptive_field - 1`` before it."""
        return 1 + 2 * (self.kernel_size - 1) * (2**self.levels - 1)


class _Block(nn.Module):
    """Two weight-normalized dilated convolutions with ReLU and dropout, plus a residual path.
    Convolutions are unpadded: the output is ``2 * (kernel_size - 1) * dilation`` frames shorter
    than the input, the missing past being supplied by the caller."""

    def __init__(self, n_in: int, n_out: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            weight_norm(nn.Conv1d(n_in, n_out, kernel_size, dilation=dilation)),
            nn.ReLU(),
            nn.Dropout(dropout),
            weight_norm(nn.Conv1d(n_out, n_out, kernel_size, dilation=dilation)),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.skip = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else nn.Identity()
        for conv in (self.convs[0], self.convs[3]):
            nn.init.normal_(conv.parametrizations.weight.original1, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``shape=(B, C, T)`` -> ``shape=(B, C', T - shrink)``."""
        y = self.convs(x)
        return torch.relu(y + self.skip(x[..., x.shape[-1] - y.shape[-1] :]))


class TCN(SequenceModel):
    name = "tcn"
    description = "temporal convolutional network (causal dilated convolutions); any output head"
    Config: ClassVar[type] = TCNConfig

    def __init__(self, config: TCNConfig, n_features: int) -> None:
        super().__init__(config, n_features)
        widths = [n_features] + [config.channels] * config.levels
        self.blocks = nn.Sequential(
            *(_Block(widths[i], widths[i + 1], config.kernel_size, 2**i, config.dropout) for i in range(config.levels))
        )
        self.readout = nn.Linear(config.channels, self.head.n_params)

    def features(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``inputs`` ``shape=(B, L, D)`` -> the last block's output ``shape=(B, L, channels)``, and the
        last ``receptive_field - 1`` frames read ``shape=(B, receptive_field - 1, D)`` as the state."""
        past = self.config.receptive_field - 1
        if state is None:
            state = inputs.new_zeros(inputs.shape[0], past, inputs.shape[2])
        frames = torch.cat([state, inputs], dim=1)
        hidden = self.blocks(frames.transpose(1, 2)).transpose(1, 2)
        return hidden, frames[:, frames.shape[1] - past :]

    def forward(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``inputs`` ``shape=(B, L, D)`` -> head parameters ``shape=(B, L, n_params)``, and the state
        of ``features``."""
        hidden, state = self.features(inputs, state)
        return self.readout(hidden), state
