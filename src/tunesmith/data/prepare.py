"""Prepare a dataset once: read the music, split it by piece, turn it into frames, cache it.

The result is a ``PreparedData``: for each split, a list of frame arrays ``shape=(T, D)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..config import DataConfig
from ..errors import ConfigError, DataError
from ..music import Piece
from ..representation import PianoRollConfig, normalize_key, to_pianoroll
from ..utils import atomic_write, cache_dir
from .splits import split_by_melody

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
BUILTIN_CORPORA = ("bach-chorales",)
BENCHMARK_SUFFIXES = (".mat", ".pickle", ".pkl")
CACHE_FORMAT = 1


@dataclass
class PreparedData:
    """Frames per split, ready for batching.

    splits: split name -> list of uint8 arrays ``shape=(T, representation.n_features)``.
    names: split name -> piece names, aligned with ``splits``.
    qpm: typical tempo of the source, used when generated frames become MIDI.
    skipped: ``(file, reason)`` for every input that could not be used.
    """

    representation: PianoRollConfig
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


def prepare_data(data: DataConfig, representation: PianoRollConfig, *, progress: bool = True) -> PreparedData:
    """Read ``data.source``, split it, convert it to frames; reuse the cache when allowed."""
    key = _cache_key(data, representation)
    cache_file = cache_dir() / "prepared" / f"{key}.npz"
    if data.cache and cache_file.is_file():
        try:
            prepared = _load_cache(cache_file, representation)
            log.info("using prepared data from %s", cache_file)
            return prepared
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            log.warning("ignoring unreadable cache %s (%s)", cache_file, exc)
    prepared = _prepare(data, representation, progress=progress)
    if data.cache:
        _save_cache(cache_file, prepared)
    return prepared


def _prepare(data: DataConfig, representation: PianoRollConfig, *, progress: bool) -> PreparedData:
    source = data.source
    path = Path(source).expanduser()
    if source in BUILTIN_CORPORA:
        from ..io import read_corpus

        limit = data.max_pieces or None
        pieces, skipped = read_corpus(source, workers=data.workers, progress=progress, limit=limit), []
    elif path.is_file() and path.suffix.lower() in BENCHMARK_SUFFIXES:
        return _prepare_benchmark(path, data, representation)
    elif path.is_dir():
        from ..io import read_folder

        pieces, skipped = read_folder(path, workers=data.workers, progress=progress)
        if data.max_pieces:
            pieces = pieces[: data.max_pieces]
    elif path.is_file():
        from ..io import read_piece

        pieces, skipped = [read_piece(path)], []
    else:
        raise DataError(
            source,
            f"not found: expected a built-in corpus ({', '.join(BUILTIN_CORPORA)}), "
            "a folder of music files, or a .mat/.pickle piano-roll benchmark",
        )
    return _from_pieces(source, pieces, list(skipped), data, representation)


def _from_pieces(
    source: str, pieces: list[Piece], skipped: list[tuple[str, str]], data: DataConfig, rep: PianoRollConfig
) -> PreparedData:
    usable: list[tuple[Piece, np.ndarray]] = []
    for piece in pieces:
        shaped = normalize_key(piece)[0] if rep.normalize_key else piece
        frames = to_pianoroll(shaped, rep).frames
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


def _why_empty(piece: Piece, rep: PianoRollConfig) -> str:
    if not rep.drums and any(t.is_drum and t.notes for t in piece.tracks):
        return "only drum tracks, which representation.drums=false leaves out"
    return f"no notes in the {rep.keys}-key range"


def _prepare_benchmark(path: Path, data: DataConfig, rep: PianoRollConfig) -> PreparedData:
    from ..io import read_benchmark

    if rep.keys != 88 or rep.onsets:
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


def _source_fingerprint(source: str) -> object:
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


def _cache_key(data: DataConfig, rep: PianoRollConfig) -> str:
    recipe = {
        "format": CACHE_FORMAT,
        "version": __version__,
        "source": _source_fingerprint(data.source),
        "representation": asdict(rep),
        "split": [data.valid_fraction, data.test_fraction, data.max_pieces],
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


def _load_cache(path: Path, rep: PianoRollConfig) -> PreparedData:
    with np.load(path, allow_pickle=False) as archive:
        splits, names = {}, {}
        for s in SPLITS:
            bounds = np.cumsum(archive[f"{s}_lengths"])[:-1]
            splits[s] = list(np.split(archive[f"{s}_frames"], bounds)) if len(archive[f"{s}_lengths"]) else []
            names[s] = [str(n) for n in archive[f"{s}_names"]]
        meta = json.loads(str(archive["meta"]))
    return PreparedData(rep, splits, names, float(meta["qpm"]), [tuple(x) for x in meta["skipped"]])
