"""Reading and writing music files: one entry point, :func:`read_piece`, for every format.

MIDI goes through symusic (:mod:`tunesmith.io.midi`), MusicXML and ABC through music21
(:mod:`tunesmith.io.score`), piano-roll benchmarks through scipy/pickle
(:mod:`tunesmith.io.benchmark`). Every bad input raises :class:`~tunesmith.errors.DataError`.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from functools import partial
from itertools import islice
from pathlib import Path
from typing import TypeVar

from tunesmith.errors import ConfigError, DataError, TunesmithError
from tunesmith.io.benchmark import read_benchmark
from tunesmith.io.midi import read_midi, write_midi
from tunesmith.io.score import SCORE_FORMATS, corpus_paths, read_corpus, read_score
from tunesmith.music import Piece
from tunesmith.utils import die_with_parent, one_line

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_QPM",
    "MAX_SECONDS",
    "SUFFIXES",
    "check_file",
    "check_length",
    "corpus_paths",
    "find_music_files",
    "format_duration",
    "imap_in_order",
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

MAX_SECONDS = 1800.0
"""Default longest piece, in seconds, that readers accept (the config key ``data.max_seconds``)."""

MAX_QPM = 1000.0
"""Fastest tempo assumed when bounding a piece's length in quarter notes: a piece may last at
most ``max_seconds * MAX_QPM / 60`` quarter notes, however fast its tempo map claims to be."""

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


def read_piece(path: str | Path, *, max_seconds: float = MAX_SECONDS) -> Piece:
    """Read one music file, choosing the reader by suffix (case-insensitive).

    ``.mid``/``.midi`` are read with symusic; ``.xml``/``.mxl``/``.musicxml``/``.abc`` with
    music21. The piece's ``name`` is the file stem and its ``source`` the path. A piece
    longer than ``max_seconds`` (see :func:`check_length`) is refused, so that whatever a
    file holds, the frames made from it stay small.

    Raises:
        DataError: unsupported suffix, missing, empty or too large file, a file the parser
            rejects, a piece without any notes, or one longer than ``max_seconds``.
        ConfigError: ``max_seconds`` is not a positive number.
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
        raise DataError(path, f"cannot read file: {type(exc).__name__}: {one_line(str(exc))}") from exc
    if not any(track.notes for track in piece.tracks):
        raise DataError(path, "no notes")
    check_length(piece, path, max_seconds=max_seconds)
    piece.name, piece.source = path.stem, str(path)
    return piece


def check_length(piece: Piece, path: str | Path, *, max_seconds: float = MAX_SECONDS) -> None:
    """Refuse a piece whose last note ends after ``max_seconds`` under its tempo map, or after
    ``max_seconds * MAX_QPM / 60`` quarter notes (a tempo map can claim any speed).

    Raises:
        DataError: the piece is too long (the reason names the length and ``data.max_seconds``),
            or holds a note time that is negative or not a number, or a tempo that is not positive.
        ConfigError: ``max_seconds`` is not a positive number (``math.inf`` turns the check off).
    """
    _check_max_seconds(max_seconds)
    note = next((n for t in piece.tracks for n in t.notes if not (n.time >= 0 and n.duration >= 0)), None)
    if note is not None:
        raise DataError(path, f"a note at time {note.time} lasting {note.duration}: times must be numbers >= 0")
    tempo = next((t for t in piece.tempos if not (math.isfinite(t.time) and t.time >= 0 and t.qpm > 0)), None)
    if tempo is not None:
        raise DataError(path, f"a tempo of {tempo.qpm} qpm at time {tempo.time}: tempos must be positive, times >= 0")
    end = piece.end
    seconds = piece.tempo_map().to_seconds(end)
    if not seconds <= max_seconds:
        raise DataError(
            path,
            f"lasts {format_duration(seconds)}, over the limit of {format_duration(max_seconds)} (data.max_seconds)",
        )
    quarters = max_seconds * MAX_QPM / 60.0
    if not end <= quarters:
        raise DataError(
            path,
            f"lasts {end:,.0f} quarter notes, over the limit of {quarters:,.0f} "
            f"({format_duration(max_seconds)} at up to {MAX_QPM:g} qpm; data.max_seconds)",
        )


def _check_max_seconds(max_seconds: float) -> None:
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, numbers.Real) or not max_seconds > 0:
        raise ConfigError(f"data.max_seconds must be a positive number of seconds, got {max_seconds!r}")


def format_duration(seconds: float) -> str:
    """``"42.5 seconds"``, ``"30 minutes"``, ``"37.3 hours"``: a length in words for messages."""
    if not math.isfinite(seconds):
        return f"{seconds} seconds"
    for unit, size in (("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{seconds:.1f}".removesuffix(".0") + " seconds"


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
    folder: str | Path,
    *,
    workers: int = 1,
    progress: bool = False,
    limit: int | None = None,
    max_seconds: float = MAX_SECONDS,
) -> tuple[list[Piece], list[tuple[str, str]]]:
    """Read the music files under ``folder`` in path order; bad files are logged and skipped.

    Returns ``(pieces, failures)``: the pieces in path order, and ``(path, reason)`` for each
    file that raised :class:`DataError` (pieces longer than ``max_seconds`` among them).
    Files with other suffixes are ignored. ``limit`` stops after that many usable pieces, so
    only the files before them (and a few in flight) are parsed; the result does not depend
    on ``workers``. ``workers > 1`` reads in that many processes; ``progress`` shows a bar.

    Raises:
        DataError: ``folder`` does not exist or is not a folder.
        ConfigError: ``limit`` below 1 or ``max_seconds`` not positive.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    _check_max_seconds(max_seconds)
    paths = [str(p) for p in find_music_files(folder)]
    reader = partial(outcome_of, partial(read_piece, max_seconds=max_seconds))
    from tqdm import tqdm

    pieces, failures = [], []
    outcomes = imap_in_order(reader, paths, workers=workers)
    bar = tqdm(total=len(paths), desc=Path(folder).name or str(folder), disable=not progress, unit="file")
    with closing(outcomes), bar:
        for path, (piece, reason) in zip(paths, outcomes):
            bar.update()
            if piece is None:
                logger.info("skipping %s: %s", path, reason)  # the caller reports all of them at the end
                failures.append((path, reason))
            else:
                pieces.append(piece)
            if limit is not None and len(pieces) >= limit:
                break
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

    bar = dict(total=len(items), desc=desc, disable=not progress, unit="file")
    with closing(imap_in_order(fn, items, workers=workers)) as results:
        return list(tqdm(results, **bar))


def imap_in_order(fn: Callable[[T], R], items: Sequence[T], *, workers: int = 1) -> Iterator[R]:
    """Yield ``fn(x)`` for each of ``items`` in order, computed in ``workers`` processes when > 1.

    At most ``4 * workers`` items are in flight, so a consumer that stops early (close the
    iterator, e.g. with ``contextlib.closing``) leaves few of them computed for nothing.
    Worker processes end with their parent, even when it is killed (:func:`die_with_parent`).

    Raises:
        ConfigError: ``workers`` below 1 (at once, not at the first ``next``).
    """
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if workers == 1 or len(items) < 2:
        return (fn(item) for item in items)
    return _imap_pool(fn, items, min(workers, len(items)))


def _imap_pool(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    todo = iter(items)
    with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        pending = deque(pool.submit(fn, item) for item in islice(todo, 4 * workers))
        try:
            while pending:
                try:
                    result = pending.popleft().result()
                except BrokenProcessPool as exc:
                    raise TunesmithError(
                        f"a worker process died ({exc}); out of memory? try fewer workers (data.workers)"
                    ) from exc
                pending.extend(pool.submit(fn, item) for item in islice(todo, 1))
                yield result
        finally:
            for future in pending:
                future.cancel()
