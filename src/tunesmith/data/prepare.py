"""Prepare a dataset once: read the music, split it by piece, turn it into frames, cache it.

The result is a ``PreparedData``: for each split, a list of model frames ``shape=(T, D)``, and
the representation, fitted on the training split. Notes are prepared here; audio in
``audio.py`` (same result, memory-mapped cache).
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..config import DataConfig
from ..errors import ConfigError, DataError
from ..music import Piece
from ..representation import Representation, build_representation
from ..utils import atomic_write, usable_cache_dir
from .splits import split_by_melody

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
NOTE_CORPORA = ("bach-chorales",)
AUDIO_CORPORA = ("bach-chorales-audio",)
BUILTIN_CORPORA = NOTE_CORPORA + AUDIO_CORPORA
BENCHMARK_SUFFIXES = (".mat", ".pickle", ".pkl")
CACHE_FORMAT = 2


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


def prepare_data(
    data: DataConfig, representation: dict[str, Any] | Representation, *, progress: bool = True
) -> PreparedData:
    """Read ``data.source``, split it, convert it to frames with ``representation`` (a config
    section, or a Representation, e.g. a trained run's, whose fitted statistics are then kept);
    reuse the cache when ``data.cache`` allows and the cache folder is usable."""
    rep = representation if isinstance(representation, Representation) else build_representation(representation)
    if rep.domain == "audio":
        from .audio import prepare_audio

        return prepare_audio(data, rep, progress=progress)
    if data.source in AUDIO_CORPORA:
        raise ConfigError(
            f"data.source {data.source} is audio, but representation {rep.name} reads notes; "
            "use representation.name=mel, mfcc or stft"
        )
    root = usable_cache_dir() if data.cache else None
    cache_file = root / "prepared" / f"{cache_key(data, rep)}.npz" if root is not None else None
    if cache_file is not None and cache_file.is_file():
        try:
            prepared = _load_cache(cache_file, rep)
            log.info("using prepared data from %s", cache_file)
            return prepared
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            log.warning("ignoring unreadable cache %s (%s)", cache_file, exc)
    prepared = _prepare_notes(data, rep, progress=progress)
    if cache_file is not None:
        try:
            _save_cache(cache_file, prepared)
        except OSError as exc:
            log.warning("could not write the cache %s (%s); continuing without it", cache_file, exc)
    return prepared


def _prepare_notes(data: DataConfig, rep: Representation, *, progress: bool) -> PreparedData:
    source = data.source
    path = Path(source).expanduser()
    limit = data.max_pieces or None
    if source in NOTE_CORPORA:
        from ..io import read_corpus

        pieces, skipped = read_corpus(source, workers=data.workers, progress=progress, limit=limit), []
        pieces = [p for p in pieces if _short_enough(p, data.max_seconds, skipped)]
    elif path.is_file() and path.suffix.lower() in BENCHMARK_SUFFIXES:
        return _prepare_benchmark(path, data, rep)
    elif path.is_dir():
        from ..io import read_folder

        pieces, skipped = read_folder(
            path, workers=data.workers, progress=progress, limit=limit, max_seconds=data.max_seconds
        )
    elif path.is_file():
        from ..io import read_piece

        pieces, skipped = [read_piece(path, max_seconds=data.max_seconds)], []
    else:
        raise DataError(
            source,
            f"not found: expected a built-in corpus ({', '.join(BUILTIN_CORPORA)}), "
            "a folder of music files, or a .mat/.pickle piano-roll benchmark",
        )
    return _from_pieces(source, pieces, list(skipped), data, rep)


def _short_enough(piece: Piece, max_seconds: float, skipped: list[tuple[str, str]]) -> bool:
    seconds = piece.tempo_map().to_seconds(piece.end)
    if seconds > max_seconds:
        skipped.append((piece.source or piece.name, f"lasts {seconds:.0f} s, over data.max_seconds={max_seconds:g}"))
        return False
    return True


def _from_pieces(
    source: str, pieces: list[Piece], skipped: list[tuple[str, str]], data: DataConfig, rep: Representation
) -> PreparedData:
    usable: list[tuple[Piece, np.ndarray]] = []
    for piece in pieces:
        try:
            frames = rep.encode(piece)
        except DataError as exc:
            skipped.append((exc.path, exc.reason))
            continue
        if frames.any():
            usable.append((piece, frames))
        else:
            skipped.append((piece.source or piece.name, _why_empty(piece, rep)))
    if not usable:
        details = "".join(f"\n  {file}: {reason}" for file, reason in skipped)
        raise DataError(source, f"no usable pieces ({len(skipped)} skipped){details}")
    indices = split_by_melody(
        [p for p, _ in usable], valid_fraction=data.valid_fraction, test_fraction=data.test_fraction
    )
    splits = {s: [usable[i][1] for i in indices[s]] for s in SPLITS}
    names = {s: [usable[i][0].name for i in indices[s]] for s in SPLITS}
    qpm = statistics.median(p.tempos[0].qpm if p.tempos else 120.0 for p, _ in usable)
    return PreparedData(rep, splits, names, float(qpm), skipped)


def _why_empty(piece: Piece, rep: Representation) -> str:
    config = rep.config
    if not config.drums and any(t.is_drum and t.notes for t in piece.tracks):
        return "only drum tracks, which representation.drums=false leaves out"
    return f"no notes in the {config.keys}-key range"


def _prepare_benchmark(path: Path, data: DataConfig, rep: Representation) -> PreparedData:
    from ..io import read_benchmark

    if rep.name != "pianoroll" or rep.config.keys != 88 or rep.config.onsets:
        raise ConfigError(
            f"{path}: piano-roll benchmarks hold 88 keys and no note onsets; "
            "set representation.keys=88 and representation.onsets=false"
        )
    rolls = read_benchmark(path)
    splits = {s: [np.asarray(r, dtype=np.uint8) for r in rolls[s]] for s in SPLITS}
    if data.max_pieces:
        splits = {s: seqs[: data.max_pieces] for s, seqs in splits.items()}
    names = {s: [f"{path.stem}-{s}-{i}" for i in range(len(splits[s]))] for s in SPLITS}
    return PreparedData(rep, splits, names, 120.0, [])


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


def _save_cache(path: Path, prepared: PreparedData) -> None:
    arrays: dict[str, np.ndarray] = {}
    for s in SPLITS:
        seqs = prepared.splits[s]
        width = prepared.representation.n_features
        arrays[f"{s}_frames"] = np.concatenate(seqs) if seqs else np.zeros((0, width), np.uint8)
        arrays[f"{s}_lengths"] = np.array([len(x) for x in seqs], np.int64)
        arrays[f"{s}_names"] = np.array(prepared.names[s], dtype=np.str_)
    meta = {"qpm": prepared.qpm, "skipped": prepared.skipped}
    arrays["meta"] = np.array(json.dumps(meta))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic_write(path, write)


def _load_cache(path: Path, rep: Representation) -> PreparedData:
    with np.load(path, allow_pickle=False) as archive:
        splits, names = {}, {}
        for s in SPLITS:
            bounds = np.cumsum(archive[f"{s}_lengths"])[:-1]
            splits[s] = list(np.split(archive[f"{s}_frames"], bounds)) if len(archive[f"{s}_lengths"]) else []
            names[s] = [str(n) for n in archive[f"{s}_names"]]
        meta = json.loads(str(archive["meta"]))
    return PreparedData(rep, splits, names, float(meta["qpm"]), [tuple(x) for x in meta["skipped"]])
