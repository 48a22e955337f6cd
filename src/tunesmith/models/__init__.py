"""Model registry: a name maps to a model class. A new family is one file plus one line here."""

from __future__ import annotations

from typing import Any

from ..errors import CheckpointError, ConfigError
from .base import SequenceModel
from .ensemble import Ensemble
from .nade import LSTMNADE
from .rnn import GRU, LSTM, RNN
from .tcn import TCN

MODELS: dict[str, type[SequenceModel]] = {cls.name: cls for cls in (RNN, GRU, LSTM, TCN, Ensemble, LSTMNADE)}


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
    from dataclasses import asdict

    from ..config import build_dataclass

    section = dict(section)
    name = section.pop("name", "lstm")
    cls = model_class(name)
    options = build_dataclass(cls.Config, section, prefix="model")
    return {"name": name, **asdict(options)}


def build_model(section: dict[str, Any], n_features: int) -> SequenceModel:
    """Build the model a validated ``model:`` section describes, for frames of width ``n_features``."""
    from ..config import build_dataclass

    section = dict(section)
    cls = model_class(section.pop("name"))
    return cls(build_dataclass(cls.Config, section, prefix="model"), n_features)


def model_from_spec(spec: dict[str, Any]) -> SequenceModel:
    """Rebuild a model from ``SequenceModel.spec()`` as stored in a checkpoint."""
    try:
        return build_model({"name": spec["name"], **spec["params"]}, int(spec["n_features"]))
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"checkpoint holds an unusable model description: {exc}") from exc


__all__ = ["MODELS", "SequenceModel", "build_model", "list_models", "model_class", "model_config", "model_from_spec"]
