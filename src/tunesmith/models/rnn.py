"""Recurrent models over frames: vanilla RNN (tanh), GRU and LSTM.

Frames ``shape=(B, L, D)`` go through a stack of recurrent layers and a linear read-out to the
parameters of the output head: one logit per key (Bernoulli) for piano rolls, a location and a
scale per feature (Gaussian, Laplace) for spectral frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..errors import ConfigError
from .base import SequenceModel
from .heads import OutputConfig


@dataclass
class RecurrentConfig(OutputConfig):
    """A stack of recurrent layers and a linear read-out.

    Attributes:
        hidden_size: units per layer.
        num_layers: stacked layers.
        dropout: between layers and before the read-out.
        weight_dropout: DropConnect on the hidden-to-hidden weights, one mask per batch
            (Merity et al. 2018, AWD-LSTM), which regularizes the recurrence itself.
        input_dropout: drop input features (notes of the frames read), so the model cannot lean
            on copying the last frame.
    """

    hidden_size: int = 384
    num_layers: int = 1
    dropout: float = 0.1
    weight_dropout: float = 0.0
    input_dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_size < 1 or self.num_layers < 1:
            raise ConfigError("model.hidden_size and model.num_layers must be >= 1")
        for key in ("dropout", "weight_dropout", "input_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"model.{key} must be in [0, 1), got {getattr(self, key)}")


class RecurrentModel(SequenceModel):
    """Shared body of the recurrent models; subclasses pick ``cell``. ``readout`` maps the top
    layer to one value per key (the logits here; the NADE's per-key biases in ``nade.py``)."""

    Config: ClassVar[type] = RecurrentConfig
    cell: ClassVar[type[nn.RNNBase]]

    def __init__(self, config: RecurrentConfig, n_features: int) -> None:
        super().__init__(config, n_features)
        extra = {"nonlinearity": "tanh"} if self.cell is nn.RNN else {}
        self.rnn = self.cell(
            n_features,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
            **extra,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.readout = nn.Linear(config.hidden_size, self.head.n_params)

    def features(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``inputs`` ``shape=(B, L, D)`` -> the top layer's output after dropout
        ``shape=(B, L, hidden_size)``, and the recurrent state. While training, with input
        dropout and DropConnect on the hidden-to-hidden weights when configured."""
        config = self.config
        if self.training and config.input_dropout:
            inputs = F.dropout(inputs, config.input_dropout, training=True)
        if self.training and config.weight_dropout:
            dropped = {
                name: F.dropout(weight, config.weight_dropout, training=True)
                for name, weight in self.rnn.named_parameters()
                if name.startswith("weight_hh")
            }
            hidden, state = functional_call(self.rnn, dropped, (inputs, state))
        else:
            hidden, state = self.rnn(inputs, state)
        return self.dropout(hidden), state

    def forward(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``inputs`` ``shape=(B, L, D)`` -> head parameters ``shape=(B, L, n_params)``, recurrent state."""
        hidden, state = self.features(inputs, state)
        return self.readout(hidden), state


class RNN(RecurrentModel):
    name = "rnn"
    description = "vanilla (tanh) recurrent network; any output head"
    cell = nn.RNN


class GRU(RecurrentModel):
    name = "gru"
    description = "gated recurrent unit network; any output head"
    cell = nn.GRU


class LSTM(RecurrentModel):
    name = "lstm"
    description = "long short-term memory network; any output head"
    cell = nn.LSTM
