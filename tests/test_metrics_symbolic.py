"""Symbolic statistics of hand-built pieces against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesmith.metrics import symbolic as S
from tunesmith.music import Note, Piece, Track


@pytest.fixture
def piece() -> Piece:
    """Two bars: a C-major arpeggio over a held bass C; one drum hit that pitch statistics ignore."""
    melody = [Note(0, 60, 1), Note(1, 64, 1), Note(2, 67, 2), Note(4, 72, 4)]
    return Piece([Track(melody), Track([Note(0, 48, 4)], 32), Track([Note(0, 36, 0.5)], 0, True)])


def test_counts_and_range(piece: Piece) -> None:
    assert S.pitch_count(piece) == 5
    assert S.pitch_range(piece) == 24
    assert S.note_count(piece) == 6  # drums count as notes
    assert S.note_density(piece) == pytest.approx(6 / 8)


def test_pitch_class_histogram_and_entropy(piece: Piece) -> None:
    expected = np.zeros(12)
    expected[[0, 4, 7]] = [0.6, 0.2, 0.2]
    np.testing.assert_allclose(S.pitch_class_histogram(piece), expected)
    assert S.pitch_class_entropy(piece) == pytest.approx(-(0.6 * math.log2(0.6) + 2 * 0.2 * math.log2(0.2)))


def test_transition_matrix_and_interval(piece: Piece) -> None:
    matrix = S.pitch_class_transition_matrix(piece)
    expected = np.zeros((12, 12))
    expected[0, 4] = expected[4, 7] = expected[7, 0] = 1 / 3  # C->E, E->G, G->C in the melody
    np.testing.assert_allclose(matrix, expected)
    assert S.average_pitch_interval(piece) == pytest.approx((4 + 3 + 5) / 3)


def test_rhythm_statistics(piece: Piece) -> None:
    assert S.average_inter_onset_interval(piece) == pytest.approx((1 + 1 + 2) / 3)
    hist = S.note_length_histogram(piece)
    lengths = list(S.NOTE_LENGTHS)
    expected = np.zeros(12)
    expected[lengths.index(1.0)] = 2 / 6
    expected[lengths.index(2.0)] = 1 / 6
    expected[lengths.index(4.0)] = 2 / 6
    expected[lengths.index(0.5)] = 1 / 6  # the drum hit
    np.testing.assert_allclose(hist, expected)


def test_polyphony_is_sounding_time_over_covered_time(piece: Piece) -> None:
    assert S.polyphony(piece) == pytest.approx((1 + 1 + 2 + 4 + 4) / 8)


@pytest.mark.parametrize(
    ("pitches", "expected"),
    [([60, 62, 64, 65, 67, 69, 71], 1.0), ([60, 61, 62, 63], 0.75), ([69, 71, 72, 74, 76, 77, 79], 1.0)],
)
def test_scale_consistency(pitches: list[int], expected: float) -> None:
    piece = Piece([Track([Note(i, p, 1) for i, p in enumerate(pitches)])])
    assert S.scale_consistency(piece) == pytest.approx(expected)


def test_bar_statistics(piece: Piece) -> None:
    assert S.empty_bar_rate(piece) == 0.0
    gap = Piece([Track([Note(0, 60, 1), Note(8, 60, 1)])])  # bars 0, 1, 2; bar 1 silent
    assert S.empty_bar_rate(gap) == pytest.approx(1 / 3)
    assert S.empty_bar_rate(gap, beats_per_bar=3) == pytest.approx(1 / 3)  # bars [0,3) [3,6) [6,9)
    assert S.used_pitch_classes_per_bar(piece) == pytest.approx((3 + 1) / 2)


def test_qualified_note_rate() -> None:
    piece = Piece([Track([Note(0, 60, 0.1), Note(1, 60, 0.125), Note(2, 60, 1)])])
    assert S.qualified_note_rate(piece) == pytest.approx(2 / 3)
    assert S.qualified_note_rate(piece, min_duration=0.5) == pytest.approx(1 / 3)


def test_groove_consistency(piece: Piece) -> None:
    # bar 0 onsets at sixteenth steps {0, 4, 8}, bar 1 at {0}: Hamming distance 2 of 16 steps
    assert S.groove_consistency(piece) == pytest.approx(1 - 2 / 16)
    assert math.isnan(S.groove_consistency(Piece([Track([Note(0, 60, 1)])])))


def test_tonal_distance_by_hand() -> None:
    c, g = Track([Note(0, 60, 4)]), Track([Note(0, 67, 4)])
    phi_c = np.array([0, 1, 0, 1, 0, 0.5])
    phi_g = np.array([0.5, math.sqrt(3) / 2, 1, 0, 0.5 * math.sqrt(3) / 2, -0.25])  # pitch class 7
    assert S.tonal_distance(c, g) == pytest.approx(np.linalg.norm(phi_c - phi_g))
    assert S.tonal_distance(c, c) == pytest.approx(0.0)
    assert math.isnan(S.tonal_distance(c, Track([Note(4, 60, 4)])))  # never sound in the same bar


def test_empty_piece_gives_nan_not_errors() -> None:
    empty = Piece([Track([])])
    assert S.pitch_count(empty) == 0 and S.pitch_range(empty) == 0
    for fn in (S.polyphony, S.scale_consistency, S.pitch_class_entropy, S.note_density, S.empty_bar_rate):
        assert math.isnan(fn(empty))


def test_piece_statistics_shapes(piece: Piece) -> None:
    stats = S.piece_statistics(piece)
    assert stats["pitch_class_histogram"].shape == (12,)
    assert stats["pitch_class_transition_matrix"].shape == (12, 12)
    assert stats["note_length_histogram"].shape == (12,)
    assert stats["polyphony"] == pytest.approx(S.polyphony(piece))
