"""Standard MIDI files <-> :class:`~tunesmith.music.Piece`, through symusic.

symusic reads and writes in integer ticks; this module converts to and from quarter notes
itself (``ticks / ticks_per_quarter``). In symusic 0.5.9, ``Score(path, ttype="quarter")``
returns a score labelled "quarter" whose times are still ticks, so it is not used here.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import symusic

from tunesmith.errors import DataError
from tunesmith.music import Note, Piece, Tempo, Track
from tunesmith.utils import atomic_write, one_line

log = logging.getLogger("tunesmith.io")

RESOLUTION = 480
"""Ticks per quarter note of the files :func:`write_midi` writes."""
MAX_TICK = 2**31 - 1
"""The last tick a MIDI file written here can hold."""
MAX_NOTES = 1_000_000
"""Files with more notes are refused before their notes become Python objects."""


def read_midi(path: str | Path) -> Piece:
    """Read a standard MIDI file into a :class:`Piece`.

    One :class:`Track` per symusic track (``program``, ``is_drum``, ``name``); note
    ``time`` and ``duration`` in quarter notes; notes of zero length are dropped. Tempo
    changes become :class:`Tempo` entries (consecutive equal tempos merged); tempos that are
    not a positive finite number (a tempo event of 0 microseconds per quarter) are dropped
    with a warning, and a file left without any keeps the default 120 qpm. The piece is
    named after the file stem.

    Raises:
        DataError: the file cannot be read, symusic rejects it, or it holds more than
            :data:`MAX_NOTES` notes.
    """
    path = Path(path)
    try:
        score = symusic.Score.from_midi(path.read_bytes())
    except OSError as exc:
        raise DataError(path, f"cannot read file: {exc.strerror or exc}") from exc
    except Exception as exc:  # symusic raises RuntimeError/ValueError on corrupt data
        raise DataError(path, f"not a valid MIDI file: {one_line(str(exc))}") from exc
    tpq = score.ticks_per_quarter
    if tpq <= 0:
        raise DataError(path, f"invalid ticks per quarter note: {tpq}")
    if score.note_num() > MAX_NOTES:
        raise DataError(path, f"{score.note_num():,} notes, over the limit of {MAX_NOTES:,}")
    piece = Piece(tracks=[_track_from_symusic(t, tpq) for t in score.tracks], name=path.stem, source=str(path))
    tempos = _tempos_from_symusic(score.tempos, tpq, path)
    if tempos:
        piece.tempos = tempos
    return piece


def _track_from_symusic(track, tpq: int) -> Track:
    """Convert one symusic tick-based track, dropping notes of zero or negative length and notes
    outside MIDI's pitches 0..127; velocities are clipped to 1..127."""
    arrays = track.notes.numpy()
    keep = (arrays["duration"] > 0) & (arrays["pitch"] >= 0) & (arrays["pitch"] <= 127)  # corrupt bytes can give -1
    times = arrays["time"][keep] / tpq
    durations = arrays["duration"][keep] / tpq
    pitches = arrays["pitch"][keep].astype(np.int64)
    velocities = np.clip(arrays["velocity"][keep].astype(np.int64), 1, 127)
    notes = [Note(float(t), int(p), float(d), int(v)) for t, p, d, v in zip(times, pitches, durations, velocities)]
    return Track(notes=notes, program=int(track.program), is_drum=bool(track.is_drum), name=str(track.name))


def _tempos_from_symusic(tempos, tpq: int, path: Path) -> list[Tempo]:
    """Tempo changes in quarter notes; a later change at the same time wins, repeats merge.

    Tempos that are not positive and finite are dropped with one warning per file.
    """
    bad = [float(t.qpm) for t in tempos if not (math.isfinite(t.qpm) and t.qpm > 0)]
    if bad:
        log.warning("%s: ignoring %d invalid tempo(s) (%s qpm)", path, len(bad), ", ".join(f"{q:g}" for q in bad[:3]))
    result: list[Tempo] = []
    for tempo in sorted((t for t in tempos if math.isfinite(t.qpm) and t.qpm > 0), key=lambda t: t.time):
        change = Tempo(tempo.time / tpq, float(tempo.qpm))
        if result and result[-1].time == change.time:
            result.pop()
        if result and result[-1].qpm == change.qpm:
            continue
        result.append(change)
    return result


def write_midi(piece: Piece, path: str | Path) -> Path:
    """Write ``piece`` as a standard MIDI file (480 ticks per quarter note) and return the path.

    Every track keeps its ``program``, ``is_drum`` and ``name``; every tempo change is
    written. Times are rounded to the nearest tick; a note shorter than one tick is written
    one tick long, and velocities are clipped to 1..127 (a velocity of 0 means "note off"
    in MIDI). The file is written to a temporary file in the same folder and then renamed,
    so a reader never sees half a file. Parent folders are created.

    Raises:
        DataError: a pitch or program outside 0..127, or a tempo that is not positive.
    """
    path = Path(path)
    data = bytes(_to_symusic(piece, path).dumps_midi())
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _to_symusic(piece: Piece, path: Path):
    """Build a tick-based symusic score from ``piece``; ``path`` only names errors."""
    score = symusic.Score(RESOLUTION)
    for tempo in sorted(piece.tempos, key=lambda t: t.time):
        if not (math.isfinite(tempo.qpm) and tempo.qpm > 0):
            raise DataError(path, f"tempo must be positive, got {tempo.qpm} qpm")
        if not 0 <= tempo.time <= MAX_TICK / RESOLUTION:
            raise DataError(path, f"tempo change at time {tempo.time} is outside what MIDI can hold")
        score.tempos.append(symusic.Tempo(_ticks(tempo.time), qpm=float(tempo.qpm)))
    for track in piece.tracks:
        score.tracks.append(_track_to_symusic(track, path))
    return score


def _track_to_symusic(track: Track, path: Path):
    """Build one symusic track; notes are validated and rounded to ticks."""
    if not 0 <= track.program <= 127:
        raise DataError(path, f"program {track.program} of track {track.name!r} is not in 0..127")
    out = symusic.Track(track.name, int(track.program), bool(track.is_drum))
    for note in track.notes:
        if not 0 <= note.pitch <= 127:
            raise DataError(path, f"pitch {note.pitch} at time {note.time} is not in 0..127")
        if not (0 <= note.time and 0 <= note.time + note.duration <= MAX_TICK / RESOLUTION):
            raise DataError(path, f"note at time {note.time} lasting {note.duration} is outside what MIDI can hold")
        velocity = min(max(int(note.velocity), 1), 127)
        duration = max(_ticks(note.duration), 1)
        out.notes.append(symusic.Note(_ticks(note.time), duration, int(note.pitch), velocity))
    return out


def _ticks(quarters: float) -> int:
    """Quarter notes to the nearest tick at :data:`RESOLUTION` (never negative)."""
    return max(int(round(quarters * RESOLUTION)), 0)
