"""Reading and writing music files: one entry point, :func:`read_piece`, for every format.

MIDI goes through symusic (:mod:`tunesmith.io.midi`), MusicXML and ABC through music21
(:mod:`tunesmith.io.score`), piano-roll benchmarks through scipy/pickle
(:mod:`tunesmith.io.benchmark`). Every bad input raises :class:`~tunesmith.errors.DataError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from tunesmith.errors import ConfigError, DataError
from tunesmith.io.benchmark import read_benchmark
from tunesmith.io.midi import read_midi, write_midi
from tunesmith.io.score import SCORE_FORMATS, corpus_paths, read_corpus, read_score
from tunesmith.music import Piece

__all__ = [
    "MAX_FILE_BYTES",
    "SUFFIXES",
    "check_file",
    "corpus_paths",
    "find_music_files",
    "map_in_order",
    "read_benchmark",
    "read_corpus",
    "read_folder",
    "read_midi",
    "read_piece",
    "read_score",
    "write_midi",
]

logger = logging.getLogger("tunesmith.io")

MAX_FILE_BYTES = 64 * 2**20
"""Larger files are refused before any parser sees them."""

_READERS: dict[str, Callable[[Path], Piece]] = {
    ".mid": read_midi,
    ".midi": read_midi,
    **{suffix: read_score for suffix in SCORE_FORMATS},
}
SUFFIXES: tuple[str, ...] = tuple(_READERS)
"""Lower-case suffixes :func:`read_piece` can read."""

T = TypeVar("T")
R = TypeVar("R")


def check_file(path: str | Path) -> Path:
    """Return ``path`` as a Path if it is a regular, non-empty file of at most MAX_FILE_BYTES.

    Raises:
        DataError: missing, not a regular file, empty, or too large.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot access file: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise DataError(path, "not a regular file")
    if size == 0:
        raise DataError(path, "empty file (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise DataError(path, f"file is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,}")
    return path


def read_piece(path: str | Path) -> Piece:
    """Read one music file, choosing the reader by suffix (case-insensitive).

    ``.mid``/``.midi`` are read with symusic; ``.xml``/``.mxl``/``.musicxml``/``.abc`` with
    music21. The piece's ``name`` is the file stem and its ``source`` the path.

    Raises:
        DataError: unsupported suffix, missing, empty or too large file, a file the parser
            rejects, or a piece without any notes.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            path, f"unsupported file type {path.suffix or '(no suffix)'!r}; supported: {', '.join(SUFFIXES)}"
        )
    check_file(path)
    try:
        piece = reader(path)
    except DataError:
        raise
    except Exception as exc:  # a last guard: no raw library error leaves this function
        raise DataError(path, f"cannot read file: {type(exc).__name__}: {exc}") from exc
    if not any(track.notes for track in piece.tracks):
        raise DataError(path, "no notes")
    piece.name, piece.source = path.stem, str(path)
    return piece


def find_music_files(folder: str | Path) -> list[Path]:
    """All files under ``folder`` (recursively) with a suffix in :data:`SUFFIXES`, sorted.

    Raises:
        DataError: ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "folder not found" if not folder.exists() else "not a folder")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())


def read_folder(
    folder: str | Path, *, workers: int = 1, progress: bool = False
) -> tuple[list[Piece], list[tuple[str, str]]]:
    """Read every music file under ``folder``; bad files are logged and skipped.

    Returns ``(pieces, failures)``: the pieces in path order, and ``(path, reason)`` for each
    file that raised :class:`DataError`. Files with other suffixes are ignored.
    ``workers > 1`` reads in that many processes; ``progress`` shows a progress bar.

    Raises:
        DataError: ``folder`` does not exist or is not a folder.
    """
    paths = [str(p) for p in find_music_files(folder)]
    outcomes = map_in_order(
        partial(outcome_of, read_piece),
        paths,
        workers=workers,
        progress=progress,
        desc=Path(folder).name or str(folder),
    )
    pieces, failures = [], []
    for path, (piece, reason) in zip(paths, outcomes):
        if piece is None:
            logger.info("skipping %s: %s", path, reason)  # the caller reports all of them at the end
            failures.append((path, reason))
        else:
            pieces.append(piece)
    return pieces, failures


def outcome_of(reader: Callable[[str], Piece], path: str) -> tuple[Piece | None, str]:
    """``(reader(path), "")`` or ``(None, reason)``, so one bad file never stops a worker pool."""
    try:
        return reader(path), ""
    except DataError as exc:
        return None, exc.reason


def map_in_order(
    fn: Callable[[T], R], items: Sequence[T], *, workers: int = 1, progress: bool = False, desc: str = ""
) -> list[R]:
    """``[fn(x) for x in items]``, in ``workers`` processes when > 1, with a progress bar.

    ``fn`` must be a module-level function (it is pickled to the worker processes).
    """
    from tqdm import tqdm

    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    bar = dict(total=len(items), desc=desc, disable=not progress, unit="file")
    if workers == 1 or len(items) < 2:
        return [fn(item) for item in tqdm(items, **bar)]
    chunksize = max(1, min(16, len(items) // (4 * workers)))
    with ProcessPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(tqdm(pool.map(fn, items, chunksize=chunksize), **bar))
