"""What every representation offers the data layer, the sampler and the writers.

A representation is a symmetric pair (MusPy's ``to_x`` / ``from_x``, DAC's ``encode`` /
``decode``): ``encode`` turns a piece of music (a :class:`~tunesmith.music.Piece` of notes, or an
audio :class:`~tunesmith.audio.io.Clip`) into frames ``shape=(T, n_features)``, and ``decode``
turns frames back into a piece or clip. It knows nothing about models: a model only learns
whether the frames are ``binary`` (0/1 keys, a Bernoulli output) or real-valued (a Gaussian or
Laplace output).

Representations with statistics of their own (a spectral representation normalizes every
feature by its mean and spread on the training split) learn them in ``fit`` and keep them in
``state``, which every checkpoint stores, so a run decodes exactly what it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class Representation:
    """Base class. Subclasses set ``name``, ``description``, ``Config``, ``domain`` and
    ``binary``, and implement ``n_features``, ``analyze``, ``decode`` and ``write``.

    ``domain`` is ``"notes"`` (reads Pieces: MIDI, MusicXML, ABC, corpora) or ``"audio"``
    (reads Clips: WAV, FLAC, OGG, MP3).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type]
    domain: ClassVar[str]
    binary: ClassVar[bool]

    def __init__(self, config: Any, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.state: dict[str, Any] = dict(state or {})

    # -- the pair -------------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        """Width of one frame."""
        raise NotImplementedError

    def analyze(self, item: Any) -> np.ndarray:
        """A piece or clip -> raw frames ``shape=(T, n_features)`` (before ``normalize``)."""
        raise NotImplementedError

    def encode(self, item: Any) -> np.ndarray:
        """A piece or clip -> model frames ``shape=(T, n_features)``: ``normalize(analyze(item))``."""
        return self.normalize(self.analyze(item))

    def decode(self, frames: np.ndarray, **context: Any) -> Any:
        """Model frames ``shape=(T, n_features)`` -> a Piece (notes) or a Clip (audio).

        ``context`` carries what frames alone do not say (a tempo, a name, a MIDI program)."""
        raise NotImplementedError

    # -- statistics ------------------------------------------------------------------------
    def fit(self, sequences: list[np.ndarray], **context: Any) -> None:
        """Learn normalization statistics from the training split's raw frames (default: none)."""

    def normalize(self, frames: np.ndarray) -> np.ndarray:
        """Raw frames -> model frames (default: unchanged)."""
        return frames

    def denormalize(self, frames: np.ndarray) -> np.ndarray:
        """Model frames -> raw frames (default: unchanged)."""
        return frames

    # -- what models and samplers need -----------------------------------------------------
    def silence(self) -> np.ndarray:
        """The model frame of silence ``shape=(n_features,)``: what a sequence starts after."""
        return np.zeros(self.n_features, np.float32)

    def augmenter(self, amount: float) -> Augment | None:
        """A random transformation of a training window, or None (no augmentation)."""
        return None

    def repair(self, frame: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Fix a sampled frame ``shape=(B, D)`` given the one before it (default: unchanged)."""
        return frame

    def write(self, item: Any, stem: Path, *, audio: bool = True, plot: bool = True, **options: Any) -> dict[str, Path]:
        """Write a decoded piece or clip as ``stem`` + suffixes; return ``{kind: path}``."""
        raise NotImplementedError

    # -- checkpoints -----------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild this representation: name, options, state."""
        return {"name": self.name, "params": asdict(self.config), "state": dict(self.state)}

    def input_suffixes(self) -> tuple[str, ...]:
        """Suffixes of the files this representation reads: music files for notes, recordings
        for audio."""
        if self.domain == "notes":
            from ..io import SUFFIXES

            return SUFFIXES
        from ..audio.io import AUDIO_SUFFIXES

        return AUDIO_SUFFIXES

    def output_suffixes(self) -> tuple[str, ...]:
        """Suffixes ``write`` produces first (used to detect pieces already written)."""
        return (".mid",) if self.domain == "notes" else (".wav",)
