"""Prepare a dataset once: read the music, split it by piece, turn it into frames, cache it.

The result is a ``PreparedData``: for each split, a list of model frames ``shape=(T, D)``, and
the representation, fitted on the training split. Notes are prepared here; audio in
``audio.py`` (same result, memory-mapped cache).
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DataConfig
from ..errors import ConfigError, DataError
from ..music import Piece
from ..representation import Representation, build_representation
from ..utils import atomic_write, usable_cache_dir
from .dataset import AUDIO_CORPORA, BENCHMARK_SUFFIXES, BUILTIN_CORPORA, NOTE_CORPORA, SPLITS, PreparedData, cache_key
from .splits import split_by_melody

log = logging.getLogger(__name__)


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
    """False (and the piece listed as skipped) when it is longer than ``data.max_seconds``."""
    from ..io import check_length

    try:
        check_length(piece, piece.source or piece.name, max_seconds=max_seconds)
    except DataError as exc:
        skipped.append((exc.path, exc.reason))
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
