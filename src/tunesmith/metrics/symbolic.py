"""Statistics of one piece, after MusPy (Dong et al. 2020) and MGEval (Yang & Lerch 2018).

Every function is a small pure function of a :class:`~tunesmith.music.Piece` (times in quarter
notes) that returns a number or an array. Drum tracks are ignored by every pitch statistic.
Bars are ``beats_per_bar`` quarter notes long (4 by default) and start at time 0. A statistic
that is undefined for a piece (no notes, a single bar, ...) returns ``nan``; the judge drops
those values.
"""

from __future__ import annotations

import math

import numpy as np

from tunesmith.music import Note, Piece, Track

__all__ = [
    "average_inter_onset_interval",
    "average_pitch_interval",
    "empty_bar_rate",
    "groove_consistency",
    "note_count",
    "note_density",
    "note_length_histogram",
    "pitch_class_entropy",
    "pitch_class_histogram",
    "pitch_class_transition_matrix",
    "pitch_count",
    "pitch_range",
    "polyphony",
    "qualified_note_rate",
    "scale_consistency",
    "tonal_distance",
    "used_pitch_classes_per_bar",
]

NOTE_LENGTHS = (4.0, 2.0, 1.0, 0.5, 0.25, 3.0, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3)
"""MGEval's 12 note-length classes in quarter notes: whole, half, quarter, eighth, sixteenth,
their dotted forms, then half-, quarter- and eighth-note triplets."""

_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)  # C major
_MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], bool)  # C natural minor


def _pitched(piece: Piece) -> list[Note]:
    """Notes of the non-drum tracks, sorted by time then pitch."""
    return sorted((n for t in piece.tracks if not t.is_drum for n in t.notes), key=lambda n: (n.time, n.pitch))


def _lines(piece: Piece) -> list[list[Note]]:
    """Each non-drum track's notes sorted by time then pitch (a track is read as one line)."""
    return [sorted(t.notes, key=lambda n: (n.time, n.pitch)) for t in piece.tracks if not t.is_drum and t.notes]


def _n_bars(piece: Piece, beats_per_bar: float) -> int:
    return max(math.ceil(piece.end / beats_per_bar - 1e-9), 0)


def note_count(piece: Piece) -> int:
    """Number of notes in all tracks, drums included."""
    return sum(len(t.notes) for t in piece.tracks)


def pitch_count(piece: Piece) -> int:
    """Number of distinct MIDI pitches used (MusPy ``n_pitches_used``)."""
    return len({n.pitch for n in _pitched(piece)})


def pitch_range(piece: Piece) -> int:
    """Highest minus lowest pitch, in semitones (MusPy ``pitch_range``); 0 without notes."""
    pitches = [n.pitch for n in _pitched(piece)]
    return max(pitches) - min(pitches) if pitches else 0


def pitch_class_histogram(piece: Piece) -> np.ndarray:
    """Share of notes on each pitch class C, C#, ..., B, ``shape=(12,)``; zeros without notes."""
    counts = np.bincount([n.pitch % 12 for n in _pitched(piece)], minlength=12).astype(np.float64)
    return counts / counts.sum() if counts.sum() else counts


def pitch_class_entropy(piece: Piece) -> float:
    """Shannon entropy in bits of :func:`pitch_class_histogram` (MusPy ``pitch_class_entropy``)."""
    prob = pitch_class_histogram(piece)
    prob = prob[prob > 0]
    return float(-np.sum(prob * np.log2(prob))) if prob.size else math.nan


def pitch_class_transition_matrix(piece: Piece) -> np.ndarray:
    """Transitions between the pitch classes of consecutive notes, ``shape=(12, 12)``, summing to 1.

    Entry ``[a, b]`` counts a note of class ``a`` followed by one of class ``b`` in the same track
    (each track's notes in time order, simultaneous notes by pitch); the counts are divided by
    their total. All zeros when no track has two notes.
    """
    matrix = np.zeros((12, 12))
    for line in _lines(piece):
        for first, second in zip(line, line[1:]):
            matrix[first.pitch % 12, second.pitch % 12] += 1
    return matrix / matrix.sum() if matrix.sum() else matrix


def average_pitch_interval(piece: Piece) -> float:
    """Mean absolute interval in semitones between consecutive notes of each track (MGEval's
    ``avg_pitch_shift``); ``nan`` when no track has two notes."""
    steps = [abs(b.pitch - a.pitch) for line in _lines(piece) for a, b in zip(line, line[1:])]
    return float(np.mean(steps)) if steps else math.nan


def note_density(piece: Piece) -> float:
    """Notes per beat (quarter note): :func:`note_count` over the piece's length in beats."""
    return note_count(piece) / piece.end if piece.end > 0 else math.nan


def average_inter_onset_interval(piece: Piece) -> float:
    """Mean time in beats between consecutive distinct onset times of all notes (MGEval's
    ``avg_IOI``, but simultaneous onsets count once); ``nan`` with fewer than two onsets."""
    onsets = np.unique(np.round([n.time for t in piece.tracks for n in t.notes], 6))
    return float(np.mean(np.diff(onsets))) if onsets.size > 1 else math.nan


def note_length_histogram(piece: Piece) -> np.ndarray:
    """Share of notes in each of MGEval's 12 length classes (:data:`NOTE_LENGTHS`), ``shape=(12,)``.

    A note goes to the class nearest in log-duration; zeros without notes.
    """
    durations = np.array([n.duration for t in piece.tracks for n in t.notes], dtype=np.float64)
    counts = np.zeros(len(NOTE_LENGTHS))
    if durations.size:
        distance = np.abs(np.log(np.maximum(durations, 1e-6))[:, None] - np.log(NOTE_LENGTHS)[None, :])
        counts = np.bincount(distance.argmin(axis=1), minlength=len(NOTE_LENGTHS)).astype(np.float64)
    return counts / counts.sum() if counts.sum() else counts


def polyphony(piece: Piece) -> float:
    """Mean number of notes sounding, over the time during which at least one sounds.

    Exact, without a time grid: the total duration of all pitched notes divided by the length of
    the union of their intervals (MusPy's ``polyphony`` on a piano roll counts a pitch doubled by
    two tracks once; here it counts twice). ``nan`` without notes.
    """
    spans = sorted((n.time, n.time + n.duration) for n in _pitched(piece) if n.duration > 0)
    covered, reach = 0.0, -math.inf
    for start, end in spans:
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return sum(e - s for s, e in spans) / covered if covered > 0 else math.nan


def scale_consistency(piece: Piece) -> float:
    """Largest share of notes inside one major or natural-minor scale over the 12 roots
    (MusPy ``scale_consistency``); pitches are taken modulo 12. ``nan`` without notes."""
    counts = np.bincount([n.pitch % 12 for n in _pitched(piece)], minlength=12)
    if counts.sum() == 0:
        return math.nan
    best = max(counts[np.roll(scale, root)].sum() for scale in (_MAJOR, _MINOR) for root in range(12))
    return float(best / counts.sum())


def empty_bar_rate(piece: Piece, *, beats_per_bar: float = 4.0) -> float:
    """Share of bars (up to the piece's end) in which no note sounds (MusPy ``empty_measure_rate``)."""
    n_bars = _n_bars(piece, beats_per_bar)
    if n_bars == 0:
        return math.nan
    busy = np.zeros(n_bars, bool)
    for track in piece.tracks:
        for n in track.notes:
            first = int(n.time // beats_per_bar)
            last = max(math.ceil((n.time + n.duration) / beats_per_bar - 1e-9), first + 1)
            busy[first:last] = True
    return float(1.0 - busy.mean())


def used_pitch_classes_per_bar(piece: Piece, *, beats_per_bar: float = 4.0) -> float:
    """Mean number of distinct pitch classes with an onset in a bar, over bars holding an onset
    (MGEval's ``bar_used_pitch`` in pitch classes, averaged); ``nan`` without notes."""
    per_bar: dict[int, set[int]] = {}
    for n in _pitched(piece):
        per_bar.setdefault(int(n.time // beats_per_bar), set()).add(n.pitch % 12)
    return float(np.mean([len(s) for s in per_bar.values()])) if per_bar else math.nan


def qualified_note_rate(piece: Piece, *, min_duration: float = 0.125) -> float:
    """Share of notes lasting at least ``min_duration`` beats (default 0.125: a 32nd note).

    After Pypianoroll's ``qualified_note_rate`` (Dong et al. 2018), which counts notes of at
    least a few time steps; shorter notes are fragments a model should not produce. ``nan``
    without notes.
    """
    durations = [n.duration for t in piece.tracks for n in t.notes]
    return float(np.mean([d >= min_duration - 1e-9 for d in durations])) if durations else math.nan


def groove_consistency(piece: Piece, *, beats_per_bar: float = 4.0, resolution: int = 4) -> float:
    """MusPy's groove consistency: ``1 - mean Hamming distance of adjacent bars' onset patterns``.

    Onsets of all tracks are rounded to a grid of ``resolution`` steps per beat; a bar's pattern
    is a binary vector of ``beats_per_bar * resolution`` steps; the Hamming distance of each pair
    of adjacent bars is divided by that length. The piece has ``ceil(end / beats_per_bar)`` bars
    (MusPy counts one more when the end falls on a bar line). ``nan`` with fewer than two bars.
    """
    steps = int(round(beats_per_bar * resolution))
    n_bars = _n_bars(piece, beats_per_bar)
    if n_bars < 2 or steps < 1:
        return math.nan
    grid = np.zeros(n_bars * steps, bool)
    for track in piece.tracks:
        for n in track.notes:
            grid[min(int(round(n.time * resolution)), grid.size - 1)] = True
    patterns = grid.reshape(n_bars, steps)
    return float(1.0 - np.count_nonzero(patterns[1:] != patterns[:-1]) / (steps * (n_bars - 1)))


def _tonal_basis() -> np.ndarray:
    """Harte et al. (2006) projection of 12 pitch classes onto the 6-D tonal centroid space:
    circle of fifths (r=1), minor thirds (r=1), major thirds (r=0.5); ``shape=(6, 12)``."""
    pc = np.arange(12)
    rows = []
    for radius, angle in ((1.0, 7 * np.pi / 6), (1.0, 3 * np.pi / 2), (0.5, 2 * np.pi / 3)):
        rows += [radius * np.sin(pc * angle), radius * np.cos(pc * angle)]
    return np.array(rows)


def _bar_chroma(track: Track, n_bars: int, beats_per_bar: float) -> np.ndarray:
    """Time each pitch class sounds in each bar, ``shape=(n_bars, 12)``."""
    chroma = np.zeros((n_bars, 12))
    for n in track.notes:
        start, end = n.time, n.time + n.duration
        for bar in range(int(start // beats_per_bar), min(math.ceil(end / beats_per_bar), n_bars)):
            overlap = min(end, (bar + 1) * beats_per_bar) - max(start, bar * beats_per_bar)
            if overlap > 0:
                chroma[bar, n.pitch % 12] += overlap
    return chroma


def tonal_distance(first: Track, second: Track, *, beats_per_bar: float = 4.0) -> float:
    """Mean Euclidean distance per bar between two tracks' 6-D tonal centroids (Harte et al.).

    Per bar, each track's chroma (sounding time per pitch class) is divided by its sum and
    projected by :func:`_tonal_basis`; the distance is averaged over bars where both tracks
    sound. ``nan`` when there is no such bar.
    """
    end = max((n.time + n.duration for n in first.notes + second.notes), default=0.0)
    n_bars = max(math.ceil(end / beats_per_bar - 1e-9), 0)
    a, b = _bar_chroma(first, n_bars, beats_per_bar), _bar_chroma(second, n_bars, beats_per_bar)
    both = (a.sum(1) > 0) & (b.sum(1) > 0)
    if not both.any():
        return math.nan
    basis = _tonal_basis()
    ca = (a[both] / a[both].sum(1, keepdims=True)) @ basis.T
    cb = (b[both] / b[both].sum(1, keepdims=True)) @ basis.T
    return float(np.mean(np.linalg.norm(ca - cb, axis=1)))


def piece_statistics(piece: Piece, *, beats_per_bar: float = 4.0) -> dict[str, float | np.ndarray]:
    """Every per-piece statistic of this module (all but :func:`tonal_distance`), by name."""
    bar = {"beats_per_bar": beats_per_bar}
    return {
        "pitch_count": float(pitch_count(piece)),
        "pitch_range": float(pitch_range(piece)),
        "pitch_class_entropy": pitch_class_entropy(piece),
        "average_pitch_interval": average_pitch_interval(piece),
        "note_count": float(note_count(piece)),
        "note_density": note_density(piece),
        "average_inter_onset_interval": average_inter_onset_interval(piece),
        "polyphony": polyphony(piece),
        "scale_consistency": scale_consistency(piece),
        "empty_bar_rate": empty_bar_rate(piece, **bar),
        "used_pitch_classes_per_bar": used_pitch_classes_per_bar(piece, **bar),
        "qualified_note_rate": qualified_note_rate(piece),
        "groove_consistency": groove_consistency(piece, **bar),
        "pitch_class_histogram": pitch_class_histogram(piece),
        "pitch_class_transition_matrix": pitch_class_transition_matrix(piece),
        "note_length_histogram": note_length_histogram(piece),
    }
