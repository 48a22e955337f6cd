"""Piano-roll frames: a piece becomes ``shape=(T, C * K)`` binary frames.

``K`` keys (88: MIDI 21-108, or 128: MIDI 0-127) and ``C`` channels: ``hold`` (the key sounds
during the frame) and, when ``onsets`` is on, ``onset`` (a note starts at the frame). The onset
channel is what lets repeated notes of one pitch survive the round trip. Frames are one grid
step long: a quarter, eighth or sixteenth note, or ``1 / fps`` seconds for unquantized music.
The tempo map travels with the roll, so ``from_pianoroll(to_pianoroll(piece))`` keeps it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..music import Note, Piece, Tempo, TempoMap, Track

log = logging.getLogger(__name__)

STEPS_PER_QUARTER = {"quarter": 1, "eighth": 2, "sixteenth": 4}
LOWEST_PITCH = {88: 21, 128: 0}


@dataclass
class PianoRollConfig:
    """How notes become frames.

    keys: 88 (piano range, MIDI 21-108) or 128 (all MIDI pitches).
    step: "quarter", "eighth" or "sixteenth" (a beat grid), or "fps" (``fps`` frames per second).
    onsets: add an onset channel so that repeated notes survive the round trip.
    drums: keep drum tracks (otherwise they are left out).
    normalize_key: transpose every piece so that its estimated tonic is C.
    """

    keys: int = 88
    step: str = "sixteenth"
    fps: float = 0.0
    onsets: bool = True
    drums: bool = False
    normalize_key: bool = False

    def __post_init__(self) -> None:
        if self.keys not in LOWEST_PITCH:
            raise ConfigError(f"representation.keys must be 88 or 128, got {self.keys!r}")
        if self.step not in (*STEPS_PER_QUARTER, "fps"):
            raise ConfigError(f"representation.step must be one of quarter, eighth, sixteenth, fps; got {self.step!r}")
        if self.step == "fps" and not self.fps > 0:
            raise ConfigError("representation.fps must be > 0 when representation.step is 'fps'")

    @property
    def lowest_pitch(self) -> int:
        return LOWEST_PITCH[self.keys]

    @property
    def channels(self) -> int:
        return 2 if self.onsets else 1

    @property
    def n_features(self) -> int:
        """Width of one frame: ``channels * keys``."""
        return self.channels * self.keys


@dataclass
class PianoRoll:
    """Frames of one piece: ``frames`` has ``shape=(T, channels * keys)``, dtype uint8.

    Channel layout along the last axis: ``[hold keys..., onset keys...]``.
    """

    frames: np.ndarray
    config: PianoRollConfig
    tempos: list[Tempo] = field(default_factory=lambda: [Tempo(0.0, 120.0)])
    name: str = ""

    @property
    def hold(self) -> np.ndarray:
        """``shape=(T, keys)``: 1 where a key sounds."""
        return self.frames[:, : self.config.keys]

    @property
    def onset(self) -> np.ndarray:
        """``shape=(T, keys)``: 1 where a note starts (derived from ``hold`` without onsets)."""
        if self.config.onsets:
            return self.frames[:, self.config.keys :]
        return derive_onsets(self.hold)


def derive_onsets(hold: np.ndarray) -> np.ndarray:
    """Onsets implied by ``hold`` alone, ``shape=(T, K)``: a key that turns on."""
    hold = hold.astype(bool)
    prev = np.vstack([np.zeros((1, hold.shape[1]), bool), hold[:-1]])
    return (hold & ~prev).astype(np.uint8)


def _frame_of(beats: np.ndarray, config: PianoRollConfig, tempo_map: TempoMap) -> np.ndarray:
    """Frame index (rounded) of each time given in quarter notes."""
    if config.step == "fps":
        seconds = np.array([tempo_map.to_seconds(float(b)) for b in beats])
        return np.rint(seconds * config.fps).astype(np.int64)
    return np.rint(beats * STEPS_PER_QUARTER[config.step]).astype(np.int64)


def _time_of(frames: np.ndarray, config: PianoRollConfig, tempo_map: TempoMap) -> np.ndarray:
    """Time in quarter notes of each frame index: the inverse of ``_frame_of``."""
    if config.step == "fps":
        return np.array([tempo_map.to_beats(float(f) / config.fps) for f in frames])
    return frames / STEPS_PER_QUARTER[config.step]


def to_pianoroll(piece: Piece, config: PianoRollConfig) -> PianoRoll:
    """Turn a piece into frames, ``shape=(T, channels * keys)``.

    Notes outside the key range are dropped (with a log message); every note lasts at least
    one frame. ``T`` covers the end of the last note.
    """
    notes = [n for t in piece.tracks if config.drums or not t.is_drum for n in t.notes]
    low, keys = config.lowest_pitch, config.keys
    in_range = [n for n in notes if low <= n.pitch < low + keys]
    if len(in_range) < len(notes):
        log.info("%s: %d notes outside the %d-key range dropped", piece.name, len(notes) - len(in_range), keys)
    tempo_map = piece.tempo_map()
    starts = _frame_of(np.array([n.time for n in in_range], float), config, tempo_map)
    ends = _frame_of(np.array([n.time + n.duration for n in in_range], float), config, tempo_map)
    ends = np.maximum(ends, starts + 1)
    length = int(ends.max()) if len(in_range) else 0
    frames = np.zeros((length, config.n_features), np.uint8)
    for note, start, end in zip(in_range, starts, ends):
        key = note.pitch - low
        frames[start:end, key] = 1
        if config.onsets:
            frames[start, keys + key] = 1
    return PianoRoll(frames, config, list(piece.tempos), piece.name)


def from_pianoroll(roll: PianoRoll, *, velocity: int = 80, program: int = 0, is_drum: bool = False) -> Piece:
    """Turn frames back into a one-track piece with the roll's tempo map.

    A note starts where its key turns on or where an onset is marked on a held key, and ends
    where the key turns off or the next onset of the same key begins.
    """
    config = roll.config
    hold = roll.hold.astype(bool)
    starts = roll.onset.astype(bool) & hold | derive_onsets(hold).astype(bool)
    length = hold.shape[0]
    tempo_map = TempoMap(roll.tempos)
    notes: list[Note] = []
    for key in range(config.keys):
        start_idx = np.flatnonzero(starts[:, key])
        if not len(start_idx):
            continue
        boundaries = np.flatnonzero(~hold[:, key] | starts[:, key])
        nxt = np.searchsorted(boundaries, start_idx, side="right")
        end_idx = np.where(nxt < len(boundaries), boundaries[np.minimum(nxt, len(boundaries) - 1)], length)
        onset_t = _time_of(start_idx, config, tempo_map)
        end_t = _time_of(end_idx, config, tempo_map)
        pitch = config.lowest_pitch + key
        notes += [Note(float(a), pitch, float(b - a), velocity) for a, b in zip(onset_t, end_t)]
    notes.sort(key=lambda n: (n.time, n.pitch))
    return Piece([Track(notes, program=program, is_drum=is_drum)], list(roll.tempos), roll.name)


def make_consistent(frame: np.ndarray, previous: np.ndarray, config: PianoRollConfig) -> np.ndarray:
    """Repair one sampled frame ``shape=(B, D)`` given the frame before it.

    With onsets, an onset sounds its key, and a key that turns on has an onset.
    """
    if not config.onsets:
        return frame
    keys = config.keys
    hold = frame[:, :keys].astype(bool) | frame[:, keys:].astype(bool)
    onset = (frame[:, keys:].astype(bool) & hold) | (hold & ~previous[:, :keys].astype(bool))
    return np.concatenate([hold, onset], axis=1).astype(frame.dtype)
