"""Model registry: a name maps to a model class. A new family is one file plus one line here."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError
from ..schema import build_dataclass
from .base import SequenceModel
from .conv_vae import ConvAE, ConvVAE
from .denoiser import Denoiser
from .ensemble import Ensemble
from .gan import LSTMGAN
from .heads import HEADS, resolve_head
from .nade import LSTMNADE
from .rnn import GRU, LSTM, RNN
from .specgan import SpecGAN
from .tcn import TCN
from .vae import LSTMAE, LSTMVAE

MODELS: dict[str, type[SequenceModel]] = {
    cls.name: cls
    for cls in (
        *(RNN, GRU, LSTM, TCN, Ensemble, LSTMNADE),  # next-frame models: rnn.py, tcn.py, ensemble.py, nade.py
        *(LSTMGAN, SpecGAN),  # GANs: gan.py, specgan.py
        *(LSTMAE, LSTMVAE, ConvAE, ConvVAE),  # autoencoders: vae.py, conv_vae.py
        Denoiser,  # restoration: denoiser.py
    )
}

MAX_PARAMETERS = 2_000_000_000
"""Larger models are refused before any memory is allocated (a corrupt or hostile checkpoint)."""


def model_class(name: str) -> type[SequenceModel]:
    """The registered class called ``name``, or a ConfigError listing the known names."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(MODELS)}") from None


def list_models() -> dict[str, str]:
    """Registered model names and a one-line description of each."""
    return {name: cls.description for name, cls in MODELS.items()}


def model_config(section: dict[str, Any]) -> dict[str, Any]:
    """Validate a ``model:`` config section (``name`` plus options); return it with defaults filled."""
    section = dict(section)
    name = section.pop("name", "lstm")
    cls = model_class(name)
    options = build_dataclass(cls.Config, section, prefix="model")
    return {"name": name, **asdict(options)}


def build_model(section: dict[str, Any], n_features: int, *, binary: bool = True) -> SequenceModel:
    """Build the model a validated ``model:`` section describes, for frames of width
    ``n_features`` that are ``binary`` (0/1) or real-valued. ``head: auto`` becomes the head
    that fits the frames; a family or head that cannot model them is a ConfigError."""
    section = dict(section)
    cls = model_class(section.pop("name"))
    kind = "binary" if binary else "continuous"
    if kind not in cls.frames:
        raise ConfigError(
            f"model {cls.name} models {' or '.join(cls.frames)} frames only, but this representation's frames are "
            f"{'binary (piano roll)' if binary else 'real-valued (spectral)'}; see `tunesmith models`"
        )
    options = build_dataclass(cls.Config, section, prefix="model")
    if hasattr(options, "head"):
        options = replace(options, head=resolve_head(options.head, binary=binary))
    return cls(options, n_features)


def model_from_spec(spec: dict[str, Any]) -> SequenceModel:
    """Rebuild a model from ``SequenceModel.spec()`` as stored in a checkpoint.

    The model is first built on PyTorch's ``meta`` device (no memory), and refused if it holds
    more than ``MAX_PARAMETERS`` parameters."""
    try:
        section = {"name": spec["name"], **spec["params"]}
        n_features = int(spec["n_features"])
        head = section.get("head")
        binary = HEADS[head].binary if head in HEADS else "continuous" not in model_class(section["name"]).frames
        with torch.device("meta"):
            probe = build_model(section, n_features, binary=binary)
        count = sum(p.numel() for p in probe.parameters())
        if count > MAX_PARAMETERS:
            raise CheckpointError(
                f"checkpoint describes a model of {count:,} parameters, over the limit of {MAX_PARAMETERS:,}: "
                "the file is corrupt or not from tunesmith"
            )
        return build_model(section, n_features, binary=binary)
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"checkpoint holds an unusable model description: {exc}") from exc
    except RuntimeError as exc:  # e.g. an allocation that fails
        raise CheckpointError(f"checkpoint describes a model that cannot be built: {exc}") from exc


__all__ = [
    "HEADS",
    "MAX_PARAMETERS",
    "MODELS",
    "SequenceModel",
    "build_model",
    "list_models",
    "model_class",
    "model_config",
    "model_from_spec",
]
