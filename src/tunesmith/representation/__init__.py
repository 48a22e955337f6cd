"""Representations: notes or audio <-> model frames, registered by name. They know nothing about
models. A new representation is one file plus one line in ``REPRESENTATIONS``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..errors import CheckpointError, ConfigError
from ..schema import build_dataclass
from .base import Representation
from .keys import estimate_key, normalize_key, transpose_piece
from .pianoroll import (
    MAX_FRAMES,
    PianoRoll,
    PianoRollConfig,
    PianoRollRepresentation,
    from_pianoroll,
    make_consistent,
    to_pianoroll,
)
from .spectral import MFCC, STFT, Mel

REPRESENTATIONS: dict[str, type[Representation]] = {cls.name: cls for cls in (PianoRollRepresentation, Mel, MFCC, STFT)}
DEFAULT = "pianoroll"


def representation_class(name: str) -> type[Representation]:
    """The registered class called ``name``, or a ConfigError listing the known names."""
    try:
        return REPRESENTATIONS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown representation {name!r}; registered representations: {', '.join(REPRESENTATIONS)}"
        ) from None


def list_representations() -> dict[str, str]:
    """Registered representation names and a one-line description of each."""
    return {name: cls.description for name, cls in REPRESENTATIONS.items()}


def representation_config(section: dict[str, Any]) -> dict[str, Any]:
    """Validate a ``representation:`` section (``name`` plus options; no name means
    ``pianoroll``); return it with every default filled in."""
    section = dict(section or {})
    name = section.pop("name", DEFAULT)
    cls = representation_class(name)
    options = build_dataclass(cls.Config, section, prefix="representation")
    return {"name": name, **asdict(options)}


def build_representation(section: dict[str, Any], state: dict[str, Any] | None = None) -> Representation:
    """The representation a ``representation:`` section describes, with fitted ``state`` if any."""
    section = dict(section or {})
    cls = representation_class(section.pop("name", DEFAULT))
    return cls(build_dataclass(cls.Config, section, prefix="representation"), state)


def representation_from_spec(spec: dict[str, Any]) -> Representation:
    """Rebuild a representation from ``Representation.spec()`` as stored in a checkpoint."""
    try:
        return build_representation({"name": spec["name"], **spec["params"]}, spec.get("state") or {})
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"checkpoint holds an unusable representation description: {exc}") from exc


__all__ = [
    "DEFAULT",
    "MAX_FRAMES",
    "MFCC",
    "Mel",
    "PianoRoll",
    "PianoRollConfig",
    "PianoRollRepresentation",
    "REPRESENTATIONS",
    "Representation",
    "STFT",
    "build_representation",
    "estimate_key",
    "from_pianoroll",
    "list_representations",
    "make_consistent",
    "normalize_key",
    "representation_class",
    "representation_config",
    "representation_from_spec",
    "to_pianoroll",
    "transpose_piece",
]
