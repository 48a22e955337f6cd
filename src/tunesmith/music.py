"""The in-memory piece of music that every reader produces and every writer consumes.

Times and durations are in quarter notes (beats); a tempo map turns them into seconds.
Names follow MusPy: ``time``, ``pitch``, ``duration``, ``velocity``, ``program``, ``is_drum``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

DEFAULT_QPM = 120.0


@dataclass
class Note:
    """One note: onset ``time`` and ``duration`` in quarter notes, MIDI ``pitch`` and ``velocity``."""

    time: float
    pitch: int
    duration: float
    velocity: int = 80


@dataclass
class Tempo:
    """A tempo change at ``time`` (quarter notes) to ``qpm`` quarter notes per minute."""

    time: float
    qpm: float


@dataclass
class Track:
    """An instrument part: General MIDI ``program`` (0-127), ``is_drum``, and its notes."""

    notes: list[Note] = field(default_factory=list)
    program: int = 0
    is_drum: bool = False
    name: str = ""


@dataclass
class Piece:
    """A piece of music: tracks of notes, a tempo map, and where it came from."""

    tracks: list[Track] = field(default_factory=list)
    tempos: list[Tempo] = field(default_factory=lambda: [Tempo(0.0, DEFAULT_QPM)])
    name: str = ""
    source: str = ""

    @property
    def notes(self) -> list[Note]:
        """All notes of all tracks, sorted by time then pitch."""
        return sorted((n for t in self.tracks for n in t.notes), key=lambda n: (n.time, n.pitch))

    @property
    def end(self) -> float:
        """Time in quarter notes at which the last note ends (0 for an empty piece)."""
        return max((n.time + n.duration for t in self.tracks for n in t.notes), default=0.0)

    def tempo_map(self) -> TempoMap:
        return TempoMap(self.tempos)


class TempoMap:
    """Converts between quarter notes and seconds under a piecewise-constant tempo."""

    def __init__(self, tempos: list[Tempo]) -> None:
        tempos = sorted(tempos or [Tempo(0.0, DEFAULT_QPM)], key=lambda t: t.time)
        if tempos[0].time > 0:
            tempos.insert(0, Tempo(0.0, tempos[0].qpm))
        self.beats = [t.time for t in tempos]
        self.qpms = [t.qpm for t in tempos]
        self.seconds = [0.0]
        for i in range(1, len(tempos)):
            span = self.beats[i] - self.beats[i - 1]
            self.seconds.append(self.seconds[-1] + span * 60.0 / self.qpms[i - 1])

    def to_seconds(self, beat: float) -> float:
        i = max(bisect_right(self.beats, beat) - 1, 0)
        return self.seconds[i] + (beat - self.beats[i]) * 60.0 / self.qpms[i]

    def to_beats(self, second: float) -> float:
        i = max(bisect_right(self.seconds, second) - 1, 0)
        return self.beats[i] + (second - self.seconds[i]) * self.qpms[i] / 60.0
