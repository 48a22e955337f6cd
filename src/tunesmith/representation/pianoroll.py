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
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..music import Note, Piece, Tempo, TempoMap, Track
from .base import Augment, Representation

log = logging.getLogger(__name__)

STEPS_PER_QUARTER = {"quarter": 1, "eighth": 2, "sixteenth": 4}
MAX_FRAMES = 262_144
"""Most frames one piece may decode to (9 hours of sixteenth notes at 120 qpm)."""
LOWEST_PITCH = {88: 21, 128: 0}


@dataclass
class PianoRollConfig:
    """How notes become frames.

    Attributes:
        keys: 88 (piano range, MIDI 21-108) or 128 (all MIDI pitches).
        step: "quarter", "eighth" or "sixteenth" (a beat grid), or "fps" (``fps`` frames per second).
        fps: frames per second when ``step`` is "fps" (for unquantized MIDI); unused otherwise.
        onsets: add an onset channel so that repeated notes survive the round trip.
        drums: keep drum tracks (otherwise they are left out).
        normalize_key: transpose every piece so that its estimated tonic is C
            (Krumhansl-Schmuckler key estimate).
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
    if length > MAX_FRAMES or (len(starts) and starts.min() < 0):
        raise DataError(
            piece.source or piece.name,
            f"decodes to {length:,} frames, over the limit of {MAX_FRAMES:,} (a corrupt or extreme tempo or duration)",
        )
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


class PianoRollRepresentation(Representation):
    """Notes as binary piano-roll frames (hold and onset channels), scored key by key."""

    name = "pianoroll"
    description = "notes as binary piano-roll frames: hold (+ onset) channels per key; MIDI, MusicXML, ABC"
    Config = PianoRollConfig
    domain = "notes"
    binary = True

    @property
    def n_features(self) -> int:
        return self.config.n_features

    def analyze(self, piece: Piece) -> np.ndarray:
        """``piece`` -> uint8 frames ``shape=(T, channels * keys)`` (key-normalized if configured)."""
        from .keys import normalize_key

        shaped = normalize_key(piece)[0] if self.config.normalize_key else piece
        return to_pianoroll(shaped, self.config).frames

    def decode(
        self,
        frames: np.ndarray,
        *,
        qpm: float = 120.0,
        name: str = "",
        program: int = 0,
        shift: int = 0,
        **context: object,
    ) -> Piece:
        """Frames (0/1, any dtype) -> a one-track Piece at ``qpm``, moved back by ``shift``
        semitones (the shift that key normalization applied to a primer)."""
        from .keys import transpose_piece

        roll = PianoRoll((np.asarray(frames) > 0.5).astype(np.uint8), self.config, [Tempo(0.0, qpm)], name)
        piece = from_pianoroll(roll, program=program, is_drum=self.config.drums)
        return transpose_piece(piece, -shift) if shift else piece

    def augmenter(self, amount: float) -> Augment | None:
        """Random transposition of a window by up to ``amount`` semitones, never pushing a
        sounding key off the keyboard."""
        if amount <= 0:
            return None
        keys, limit = self.config.keys, int(amount)

        def transpose(window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return transpose_frames(window, random_shift(window, keys, limit, rng), keys)

        return transpose

    def repair(self, frame: np.ndarray, previous: np.ndarray) -> np.ndarray:
        return make_consistent(frame, previous, self.config)

    def write(
        self,
        piece: Piece,
        stem: Path,
        *,
        audio: bool = True,
        plot: bool = True,
        soundfont: str | Path | None = None,
        **options: object,
    ) -> dict[str, Path]:
        """``stem.mid``, and when asked ``stem.wav`` (SoundFont rendering) and ``stem.png``."""
        from ..io import write_midi

        stem = Path(stem)
        files = {"midi": write_midi(piece, stem.with_suffix(".mid"))}
        if audio:
            from ..synthesis import render

            files["audio"] = render(files["midi"], stem.with_suffix(".wav"), soundfont=soundfont)
        if plot:
            from ..plots import plot_piano_roll

            roll = to_pianoroll(piece, self.config)
            files["plot"] = plot_piano_roll(
                roll.hold,
                stem.with_suffix(".png"),
                lowest_pitch=self.config.lowest_pitch,
                step_label=self.config.step,
                onsets=roll.onset,
                title=piece.name,
            )
        return files


def transpose_frames(frames: np.ndarray, shift: int, keys: int) -> np.ndarray:
    """Shift every channel of ``frames`` ``shape=(L, C * keys)`` by ``shift`` keys (zero fill)."""
    if shift == 0:
        return frames
    channels = frames.reshape(len(frames), -1, keys)
    out = np.zeros_like(channels)
    if shift > 0:
        out[:, :, shift:] = channels[:, :, :-shift]
    else:
        out[:, :, :shift] = channels[:, :, -shift:]
    return out.reshape(frames.shape)


def random_shift(window: np.ndarray, keys: int, limit: int, rng: np.random.Generator) -> int:
    """A shift in ``[-limit, limit]`` that keeps every sounding key of ``window`` in range."""
    active = np.flatnonzero(window.reshape(len(window), -1, keys).any(axis=(0, 1)))
    if not len(active) or limit <= 0:
        return 0
    low, high = max(-limit, -int(active[0])), min(limit, keys - 1 - int(active[-1]))
    return int(rng.integers(low, high + 1))
