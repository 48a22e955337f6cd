"""Longest copied passage: hand-built cases and a brute-force check of the suffix automaton."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tunesmith.metrics.memorization import MelodyIndex, longest_copied_passage, melody_tokens, memorization
from tunesmith.music import Note, Piece, Track


def line(pitches: list[int], durations: list[float], name: str = "") -> Piece:
    """A one-track piece playing ``pitches`` one after another."""
    times = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    return Piece([Track([Note(float(t), p, d) for t, p, d in zip(times, pitches, durations)])], name=name)


def test_melody_tokens_take_the_skyline() -> None:
    piece = Piece([Track([Note(0, 60, 1), Note(1, 62, 1), Note(2, 59, 0.5)]), Track([Note(1, 50, 1)])])
    tokens, onsets = melody_tokens(piece)
    assert tokens == [(2, 48), (-3, 48)]  # intervals, and 1 beat = 48 ticks
    assert onsets == [0, 1, 2]


def test_a_transposed_shifted_copy_is_found_whole(rng: np.random.Generator) -> None:
    train = [line(list(rng.integers(55, 75, 30)), list(rng.choice([0.5, 1.0], 30)), f"t{i}") for i in range(5)]
    copied = copy.deepcopy(train[3])
    for note in copied.tracks[0].notes:
        note.pitch += 5
        note.time += 2.0
    result = longest_copied_passage(copied, MelodyIndex(train))
    assert result["notes"] == 30
    assert result["source"] == "t3"
    assert result["beats"] == pytest.approx(train[3].notes[-1].time)
    assert result["start_beat"] == pytest.approx(2.0)


def test_a_partial_copy_reports_its_length_and_place() -> None:
    train = [line([60, 62, 64, 65, 67, 69, 71, 72], [1] * 8, "scale")]
    generated = line([50, 40, 62, 64, 66, 67, 30], [1] * 7, "g")  # 62-64-66-67: steps +2 +2 +1 like 60-62-64-65
    result = longest_copied_passage(generated, MelodyIndex(train))
    assert result["notes"] == 4
    assert result["beats"] == pytest.approx(3.0)
    assert result["start_beat"] == pytest.approx(2.0)


def test_rhythm_must_match_too() -> None:
    train = [line([60, 62, 64, 65], [1, 1, 1, 1])]
    assert longest_copied_passage(line([60, 62, 64, 65], [1, 0.5, 1, 1]), MelodyIndex(train))["notes"] == 2


def _brute_force(query: list, texts: list[list]) -> int:
    best = 0
    for text in texts:
        for i in range(len(query)):
            for j in range(len(text)):
                k = 0
                while i + k < len(query) and j + k < len(text) and query[i + k] == text[j + k]:
                    k += 1
                best = max(best, k)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_suffix_automaton_matches_brute_force(seed: int) -> None:
    r = np.random.default_rng(seed)
    train = [line(list(r.integers(60, 64, 25)), list(r.choice([1.0, 2.0], 25))) for _ in range(4)]
    query = line(list(r.integers(60, 64, 20)), list(r.choice([1.0, 2.0], 20)))
    tokens = melody_tokens(query)[0]
    length, start, owner, where = MelodyIndex(train).longest(tokens)
    assert length == _brute_force(tokens, [melody_tokens(p)[0] for p in train])
    if length:
        assert melody_tokens(train[owner])[0][where : where + length] == tokens[start : start + length]


def test_no_cross_piece_matches() -> None:
    # the end of one piece followed by the start of the next must not count as one passage
    train = [line([60, 62], [1, 1]), line([62, 64], [1, 1])]
    assert longest_copied_passage(line([60, 62, 64], [1, 1, 1]), MelodyIndex(train))["notes"] == 2


def test_memorization_summary(rng: np.random.Generator) -> None:
    train = [line(list(rng.integers(55, 75, 40)), [1.0] * 40, f"t{i}") for i in range(10)]
    generated = [copy.deepcopy(train[0]), line([60, 60], [1, 1], "short")]
    result = memorization(generated, train, min_notes=16)
    assert [r["notes"] for r in result["pieces"]] == [40, 2]
    assert result["max_notes"] == 40
    assert result["mean_notes"] == pytest.approx(21.0)
    assert result["copied_rate"] == pytest.approx(0.5)
    assert result["max_beats"] == pytest.approx(39.0)
