"""What a prepared dataset is, and what identifies one in the cache: shared by the note path
(``prepare.py``) and the audio path (``audio.py``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..config import DataConfig
from ..io.benchmark import BENCHMARK_SUFFIXES, SPLITS
from ..representation import Representation

NOTE_CORPORA = ("bach-chorales",)
AUDIO_CORPORA = ("bach-chorales-audio",)
BUILTIN_CORPORA = NOTE_CORPORA + AUDIO_CORPORA
CACHE_FORMAT = 2

__all__ = [
    "AUDIO_CORPORA",
    "BENCHMARK_SUFFIXES",
    "BUILTIN_CORPORA",
    "CACHE_FORMAT",
    "NOTE_CORPORA",
    "PreparedData",
    "SPLITS",
    "cache_key",
    "source_fingerprint",
]


@dataclass
class PreparedData:
    """Frames per split, ready for batching.

    representation: the representation, fitted on the training split (its ``state``).
    splits: split name -> list of frame arrays ``shape=(T, representation.n_features)``
        (uint8 piano rolls, or float32 normalized spectral frames, possibly memory-mapped).
    names: split name -> piece or clip names, aligned with ``splits``.
    qpm: typical tempo of the source, used when generated piano-roll frames become MIDI.
    skipped: ``(file, reason)`` for every input that could not be used.
    """

    representation: Representation
    splits: dict[str, list[np.ndarray]]
    names: dict[str, list[str]]
    qpm: float = 120.0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def frame_count(self, split: str) -> int:
        return sum(len(x) for x in self.splits[split])

    def summary(self) -> str:
        """One line per split, then every skipped input with its reason."""
        parts = [f"{s}: {len(self.splits[s])} pieces / {self.frame_count(s)} frames" for s in SPLITS]
        lines = ["; ".join(parts)]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} inputs:")
            lines += [f"  {file}: {reason}" for file, reason in self.skipped]
        return "\n".join(lines)

    def marginal(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and standard deviation of the training frames, ``shape=(D,)`` each
        (streamed, so memory-mapped frames are not loaded at once)."""
        width = self.representation.n_features
        total, squares, count = np.zeros(width), np.zeros(width), 0
        for frames in self.splits["train"]:
            for begin in range(0, len(frames), 65536):
                chunk = np.asarray(frames[begin : begin + 65536], dtype=np.float64)
                total += chunk.sum(0)
                squares += (chunk * chunk).sum(0)
                count += len(chunk)
        mean = total / max(count, 1)
        return mean, np.sqrt(np.maximum(squares / max(count, 1) - mean * mean, 0.0))


def source_fingerprint(source: str) -> object:
    """What identifies the data behind ``source``: corpus version, or file names, sizes, times."""
    path = Path(source).expanduser()
    if source in BUILTIN_CORPORA:
        import music21

        return [source, music21.__version__]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return [str(path.resolve())] + [
            [str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns] for p in files
        ]
    if path.is_file():
        return [str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns]
    return source


def cache_key(data: DataConfig, rep: Representation, **extra: object) -> str:
    """A short hash of everything the prepared frames depend on."""
    recipe = {
        "format": CACHE_FORMAT,
        "version": __version__,
        "source": source_fingerprint(data.source),
        "representation": [rep.name, rep.spec()["params"]],
        "split": [data.valid_fraction, data.test_fraction, data.max_pieces, data.max_seconds],
        **extra,
    }
    return hashlib.sha1(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:20]
