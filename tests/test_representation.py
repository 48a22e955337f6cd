"""Round trips notes <-> piano-roll frames for every time step and key count."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.errors import ConfigError
from tunesmith.music import Note, Piece, Tempo, Track
from tunesmith.representation import (
    PianoRoll,
    PianoRollConfig,
    estimate_key,
    from_pianoroll,
    make_consistent,
    normalize_key,
    to_pianoroll,
    transpose_piece,
)

from .conftest import make_piece


def note_set(piece: Piece) -> list[tuple[float, int, float]]:
    return sorted((round(n.time, 6), n.pitch, round(n.duration, 6)) for n in piece.notes)


@pytest.mark.parametrize("keys", [88, 128])
@pytest.mark.parametrize("step", ["eighth", "sixteenth"])
def test_round_trip_keeps_notes_repeats_and_tempo(keys: int, step: str) -> None:
    piece = make_piece(7, beats=32)
    piece.tempos = [Tempo(0.0, 90.0), Tempo(8.0, 140.0)]
    config = PianoRollConfig(keys=keys, step=step, onsets=True)
    roll = to_pianoroll(piece, config)
    assert roll.frames.shape[1] == 2 * keys
    back = from_pianoroll(roll)
    assert note_set(back) == note_set(piece)
    assert [(t.time, t.qpm) for t in back.tempos] == [(0.0, 90.0), (8.0, 140.0)]


def test_repeated_notes_need_the_onset_channel() -> None:
    piece = Piece([Track([Note(0.0, 60, 1.0), Note(1.0, 60, 1.0)])])
    with_onsets = from_pianoroll(to_pianoroll(piece, PianoRollConfig(step="quarter", onsets=True)))
    without = from_pianoroll(to_pianoroll(piece, PianoRollConfig(step="quarter", onsets=False)))
    assert note_set(with_onsets) == [(0.0, 60, 1.0), (1.0, 60, 1.0)]
    assert note_set(without) == [(0.0, 60, 2.0)]  # merged: the reason onsets exist


def test_quarter_grid_quantizes_and_keeps_at_least_one_frame() -> None:
    piece = Piece([Track([Note(0.1, 60, 0.2), Note(1.0, 64, 2.9)])])
    roll = to_pianoroll(piece, PianoRollConfig(step="quarter"))
    assert note_set(from_pianoroll(roll)) == [(0.0, 60, 1.0), (1.0, 64, 3.0)]


@pytest.mark.parametrize("fps", [10.0, 25.0])
def test_frames_per_second_follow_the_tempo_map(fps: float) -> None:
    piece = Piece([Track([Note(0.0, 60, 1.0), Note(2.0, 62, 2.0)])], [Tempo(0.0, 60.0), Tempo(2.0, 120.0)])
    config = PianoRollConfig(step="fps", fps=fps)
    roll = to_pianoroll(piece, config)
    # 2 beats at 60 qpm = 2 s, then 2 beats at 120 qpm = 1 s: the roll lasts 3 s.
    assert roll.frames.shape[0] == int(3 * fps)
    assert note_set(from_pianoroll(roll)) == note_set(piece)


def test_out_of_range_notes_and_drums_are_dropped() -> None:
    piece = Piece([Track([Note(0.0, 10, 1.0), Note(0.0, 60, 1.0)]), Track([Note(0.0, 36, 1.0)], is_drum=True)])
    roll = to_pianoroll(piece, PianoRollConfig(keys=88, step="quarter"))
    assert note_set(from_pianoroll(roll)) == [(0.0, 60, 1.0)]
    drums = to_pianoroll(piece, PianoRollConfig(keys=128, step="quarter", drums=True))
    assert {n.pitch for n in from_pianoroll(drums).notes} == {10, 36, 60}


@pytest.mark.parametrize("values", [{"keys": 90}, {"step": "half"}, {"step": "fps", "fps": 0.0}])
def test_bad_representation_values(values: dict) -> None:
    with pytest.raises(ConfigError):
        PianoRollConfig(**values)


def test_key_estimate_and_normalization() -> None:
    # A D major scale with a tonic-heavy bass: tonic D (2), major.
    scale = [62, 64, 66, 67, 69, 71, 73, 74]
    piece = Piece([Track([Note(float(i), p, 1.0) for i, p in enumerate(scale)]), Track([Note(0.0, 38, 8.0)])])
    assert estimate_key(piece) == (2, "major")
    normalized, shift = normalize_key(piece)
    assert shift == -2 and estimate_key(normalized)[0] == 0
    assert note_set(transpose_piece(normalized, 2)) == note_set(piece)


def test_make_consistent_repairs_channels() -> None:
    config = PianoRollConfig(keys=88, onsets=True)
    previous = np.zeros((1, 176), np.uint8)
    previous[0, 10] = 1  # key 10 held before
    frame = np.zeros((1, 176), np.uint8)
    frame[0, 88 + 5] = 1  # onset without hold -> hold added
    frame[0, 10] = 1  # held on -> no onset needed
    frame[0, 20] = 1  # turns on without onset -> onset added
    fixed = make_consistent(frame, previous, config)
    assert fixed[0, 5] == 1 and fixed[0, 88 + 5] == 1
    assert fixed[0, 88 + 10] == 0
    assert fixed[0, 88 + 20] == 1


def test_roll_accessors_without_onsets() -> None:
    frames = np.array([[1, 0], [1, 0], [0, 1]], np.uint8)
    config = PianoRollConfig(keys=88, onsets=False)
    roll = PianoRoll(np.pad(frames, ((0, 0), (0, 86))), config)
    assert roll.onset[:, :2].tolist() == [[1, 0], [0, 0], [0, 1]]
