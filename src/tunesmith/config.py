"""Experiment configuration: plain dataclasses, a YAML or TOML file, ``key=value`` overrides.

Unknown keys and values of the wrong type are errors raised before any work starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .schema import build_dataclass
from .sections import DataConfig, TrainConfig

__all__ = [
    "DataConfig",
    "ExperimentConfig",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "merge",
    "parse_overrides",
    "read_config_file",
    "save_config",
]


@dataclass
class ExperimentConfig:
    """Everything one training run needs. ``model`` holds ``name`` plus that model's options."""

    data: DataConfig = field(default_factory=DataConfig)
    representation: dict[str, Any] = field(default_factory=lambda: {"name": "pianoroll"})
    model: dict[str, Any] = field(default_factory=lambda: {"name": "lstm"})
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["train.lr=3e-4", "model.hidden_size=128"]`` -> a nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value")
        value = yaml.safe_load(raw) if raw.strip() else ""
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override")
        node[leaf] = value
    return nested


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or TOML (.toml) file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text()
        if path.suffix.lower() == ".toml":
            import tomllib

            values = tomllib.loads(text)
        else:
            values = yaml.safe_load(text)
    except Exception as exc:  # yaml and toml parse errors
        raise ConfigError(f"{path}: cannot parse config: {exc}") from exc
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping at the top level")
    return values


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Build a validated ExperimentConfig from defaults, an optional file, then overrides."""
    values = read_config_file(path) if path is not None else {}
    values = merge(values, parse_overrides(overrides or []))
    return config_from_dict(values)


def config_from_dict(values: dict[str, Any]) -> ExperimentConfig:
    """Validate a nested dict (as written to ``config.yaml``) into an ExperimentConfig."""
    from .models import model_config
    from .representation import representation_config

    values = dict(values)
    model = dict(values.pop("model", None) or {"name": "lstm"})
    representation = dict(values.pop("representation", None) or {})
    config = build_dataclass(ExperimentConfig, values)
    config.representation = representation_config(representation)
    config.model = model_config(model)
    _check_model_fits_frames(config)
    if config.data.transpose and config.representation["name"] != "pianoroll":
        raise ConfigError("data.transpose shifts piano-roll keys; for audio representations use representation.gain_db")
    return config


def _check_model_fits_frames(config: ExperimentConfig) -> None:
    """A family or head that cannot model the representation's frames is a ConfigError now,
    before any data is prepared."""
    from .models import model_class
    from .models.heads import resolve_head
    from .representation import representation_class

    binary = representation_class(config.representation["name"]).binary
    family = model_class(config.model["name"])
    if ("binary" if binary else "continuous") not in family.frames:
        raise ConfigError(
            f"model {family.name} models {' or '.join(family.frames)} frames only, but representation "
            f"{config.representation['name']} makes {'binary' if binary else 'real-valued'} frames"
        )
    if "head" in config.model:
        resolve_head(config.model["head"], binary=binary)
    family.check_data(config.model, config.data)


def save_config(config: ExperimentConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML, atomically."""
    from .utils import atomic_write_text

    return atomic_write_text(Path(path), yaml.safe_dump(config.to_dict(), sort_keys=False))
