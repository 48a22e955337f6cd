"""Scores read through music21: MusicXML, ABC, and works of the music21 corpus.

music21 is imported where it is used, so ``import tunesmith.io`` stays fast. Files are always
parsed from source (``forceSource=True``): by default music21 caches every parsed file as a
pickle in a shared temporary folder and loads that pickle back on the next parse.
"""

from __future__ import annotations

import signal
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from tunesmith.errors import DataError
from tunesmith.music import Note, Piece, Tempo, Track
from tunesmith.utils import one_line

SCORE_FORMATS = {".xml": "musicxml", ".mxl": "musicxml", ".musicxml": "musicxml", ".abc": "abc"}
"""Suffix -> music21 format name of the score files :func:`read_score` accepts."""

_CORPUS_FORMATS = {**SCORE_FORMATS, ".krn": "humdrum"}
DEFAULT_VELOCITY = 80
CORPORA = ("bach-chorales",)
"""Names :func:`read_corpus` and :func:`corpus_paths` accept."""
MAX_PARSE_SECONDS = 60.0
"""A file music21 takes longer to parse and convert is refused (where a timer can interrupt the
parser: in the main thread of a process, which includes reader worker processes)."""


def read_score(path: str | Path) -> Piece:
    """Read a MusicXML (``.xml``, ``.mxl``, ``.musicxml``) or ABC (``.abc``) file into a Piece.

    Humdrum (``.krn``) is accepted too, for corpus works stored that way. See
    :func:`piece_from_stream` for how parts, notes and tempos are converted. An ABC file
    that holds several tunes yields its first tune.

    Raises:
        DataError: unsupported suffix, missing file, music21 cannot parse the file, or it
            takes longer than :data:`MAX_PARSE_SECONDS`.
    """
    path = Path(path)
    fmt = _CORPUS_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            path, f"unsupported score file type {path.suffix!r}; expected one of {', '.join(SCORE_FORMATS)}"
        )
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        with _time_limit(MAX_PARSE_SECONDS):
            return piece_from_stream(_parse(path, fmt), path.stem, str(path))
    except _TimeUp:
        raise DataError(path, f"music21 took over {MAX_PARSE_SECONDS:g} s to parse it; gave up") from None
    except Exception as exc:  # music21 raises many unrelated types on bad input
        raise DataError(path, f"cannot parse {fmt} file: {type(exc).__name__}: {one_line(str(exc))}") from exc


class _TimeUp(BaseException):
    """Raised by the timer of :func:`_time_limit`; a BaseException, so music21's broad
    ``except Exception`` handlers cannot swallow it."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_TimeUp` in the body after ``seconds``, and again every 50 ms until it
    ends (a raise inside a garbage-collector callback or ``__del__`` is swallowed by Python).

    Uses the SIGALRM timer, so it works in the main thread only, and only when no other timer
    is running; elsewhere the body runs without a limit.
    """
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and seconds > 0
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return
    running = [True]

    def time_up(signum: int, frame: Any) -> None:
        if running[0]:
            raise _TimeUp

    previous = signal.signal(signal.SIGALRM, time_up)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
        yield
    finally:  # nested, so that a late alarm cannot skip the clean-up
        try:
            running[0] = False
        finally:
            try:
                signal.setitimer(signal.ITIMER_REAL, 0)
            finally:
                signal.signal(signal.SIGALRM, previous)


def _parse(path: Path, fmt: str) -> Any:
    """Parse with music21, from source (never from music21's pickle cache)."""
    from music21 import converter

    if path.suffix.lower() == ".mxl":  # music21 only unzips a lower-case ".mxl" itself
        return converter.parseData(_mxl_score(path), format="musicxml")
    return converter.parse(path, format=fmt, forceSource=True)


def _mxl_score(path: Path) -> bytes:
    """The score inside a compressed MusicXML file, as named by ``META-INF/container.xml``."""
    with zipfile.ZipFile(path) as archive:
        try:
            container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
            member = container.find(".//rootfile").attrib["full-path"]
        except (KeyError, AttributeError, ElementTree.ParseError):
            member = next(
                (
                    name
                    for name in archive.namelist()
                    if not name.startswith("META-INF/") and name.lower().endswith((".xml", ".musicxml"))
                ),
                None,
            )
        if member is None:
            raise ValueError("no MusicXML score inside the archive")
        return archive.read(member)


def piece_from_stream(stream: Any, name: str = "", source: str = "") -> Piece:
    """Convert a music21 stream (Score, Part, or the first score of an Opus) into a Piece.

    One :class:`Track` per part (``name`` from the part name, ``program`` from the part's
    MIDI program, else 0). Tied notes are merged, every pitch of a chord becomes a note,
    grace notes (zero duration) are skipped, offsets and durations are quarter lengths, and
    the velocity is the note's volume if set, else 80. Tempos come from the metronome marks.
    """
    from music21 import stream as m21stream

    if isinstance(stream, m21stream.Opus):
        scores = list(stream.scores)
        stream = scores[0] if scores else stream
    parts = list(stream.parts) or [stream]
    piece = Piece(tracks=[_track_from_part(part) for part in parts], name=name, source=source)
    tempos = _tempos_from_stream(stream)
    if tempos:
        piece.tempos = tempos
    return piece


def _track_from_part(part: Any) -> Track:
    """One part -> one Track: ties merged, chords expanded, grace notes dropped."""
    notes = []
    for element in part.stripTies().flatten().notes:
        duration = float(element.quarterLength)
        if duration <= 0 or element.duration.isGrace:
            continue
        time = float(element.offset)
        velocity = _velocity(element)
        for pitch in getattr(element, "pitches", ()):  # unpitched percussion has none
            notes.append(Note(time, int(pitch.midi), duration, velocity))
    notes.sort(key=lambda n: (n.time, n.pitch))
    instrument = part.getInstrument(returnDefault=False)
    program = getattr(instrument, "midiProgram", None)
    return Track(notes=notes, program=int(program) if program is not None else 0, name=part.partName or "")


def _velocity(element: Any) -> int:
    """MIDI velocity of a note or chord: its volume if set, else :data:`DEFAULT_VELOCITY`."""
    velocity = element.volume.velocity
    if velocity is None:
        return DEFAULT_VELOCITY
    return min(max(int(round(velocity)), 1), 127)


def _tempos_from_stream(stream: Any) -> list[Tempo]:
    """Tempo changes from the metronome marks, consecutive equal tempos merged."""
    tempos: list[Tempo] = []
    for start, _end, mark in stream.metronomeMarkBoundaries():
        qpm = mark.getQuarterBPM()
        if qpm is None or qpm <= 0 or (tempos and tempos[-1].qpm == float(qpm)):
            continue
        tempos.append(Tempo(float(start), float(qpm)))
    return tempos


def corpus_paths(name: str, *, limit: int | None = None) -> list[str]:
    """Files of the music21 corpus that :func:`read_corpus` reads for ``name``, in order.

    ``"bach-chorales"`` gives the chorales in Riemenschneider order. Some of the 371 numbers
    share one harmonization (one file); each file is listed once, so 350 files in all.
    Each path can be read with :func:`read_score`.

    Raises:
        DataError: unknown corpus name, or a work missing from the installed corpus.
    """
    if name not in CORPORA:
        raise DataError(name, f"unknown corpus; available: {', '.join(CORPORA)}")
    from music21 import corpus

    works = list(corpus.chorales.Iterator(returnType="filename"))
    if limit is not None:
        works = works[:limit]
    return list(dict.fromkeys(_corpus_file(work) for work in works))


def _corpus_file(work: str) -> str:
    """Path of a corpus work such as ``"bach/bwv269"``, preferring an exact MusicXML match.

    ``corpus.getWork`` matches by prefix (``bach/bwv245.3`` also finds ``bwv245.37``) and may
    list a Humdrum file first, so exact file names are tried before falling back to it.
    """
    from music21 import common, corpus

    root = Path(common.getCorpusFilePath())
    for suffix in (".mxl", ".musicxml", ".xml", ".krn"):
        candidate = root / f"{work}{suffix}"
        if candidate.is_file():
            return str(candidate)
    try:
        found = corpus.getWork(work)
    except Exception as exc:
        raise DataError(work, "not found in the music21 corpus") from exc
    found = found if isinstance(found, list) else [found]
    if not found:
        raise DataError(work, "not found in the music21 corpus")
    return str(found[0])


def read_corpus(name: str, *, workers: int = 1, progress: bool = False, limit: int | None = None) -> list[Piece]:
    """Read a named corpus of music21 (see :data:`CORPORA`) into Pieces, in corpus order.

    With ``workers > 1`` files are parsed in that many processes; ``progress`` shows a
    progress bar; ``limit`` reads only the first ``limit`` works. Chorale tracks keep their
    part names ("Soprano", "Alto", "Tenor", "Bass").

    Raises:
        DataError: unknown corpus name, or a work that cannot be read.
    """
    from functools import partial

    from tunesmith.io import map_in_order, outcome_of  # the package module holds the shared helpers

    paths = corpus_paths(name, limit=limit)
    outcomes = map_in_order(partial(outcome_of, read_score), paths, workers=workers, progress=progress, desc=name)
    pieces = []
    for path, (piece, reason) in zip(paths, outcomes):
        if piece is None:
            raise DataError(path, reason)
        pieces.append(piece)
    return pieces
