"""Splits without leakage, windows, batches, transposition, preparation and its cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunesmith.config import DataConfig
from tunesmith.data import (
    melody_signature,
    prepare_data,
    sequence_batches,
    split_by_melody,
    training_batches,
    window_starts,
    windows_in_turn,
)
from tunesmith.errors import ConfigError, DataError
from tunesmith.representation import build_representation, transpose_piece
from tunesmith.representation.pianoroll import transpose_frames

from .conftest import SHARED_DATA, make_piece


def PianoRollConfig(**options):  # noqa: N802 - reads like the config it builds
    """The piano-roll representation with these options."""
    return build_representation({"name": "pianoroll", **options})


def test_same_melody_same_split_whatever_the_harmony_or_key() -> None:
    pieces = [make_piece(s, beats=24) for s in range(40)]
    for s in range(0, 40, 4):  # a re-harmonization in another key with a new bass
        twin = transpose_piece(make_piece(s, beats=24), 3)
        twin.tracks[1] = make_piece(s + 100, beats=24).tracks[1]
        pieces.append(twin)
    splits = split_by_melody(pieces, valid_fraction=0.15, test_fraction=0.15)
    where = {i: name for name, idx in splits.items() for i in idx}
    assert sorted(where) == list(range(len(pieces)))
    for k, s in enumerate(range(0, 40, 4)):
        assert where[s] == where[40 + k]
    assert all(splits[name] for name in ("train", "valid", "test"))
    assert split_by_melody(pieces, valid_fraction=0.15, test_fraction=0.15) == splits  # deterministic


def test_two_pieces_still_validate() -> None:
    splits = split_by_melody([make_piece(1), make_piece(2)], valid_fraction=0.1, test_fraction=0.1)
    assert len(splits["train"]) == 1 and len(splits["valid"]) == 1


def test_signature_prefers_the_soprano() -> None:
    piece = make_piece(5)
    piece.tracks[0].name, piece.tracks[1].name = "Alto", "Soprano"
    bass_only = make_piece(5)
    bass_only.tracks = [bass_only.tracks[1]]
    assert melody_signature(piece) == melody_signature(bass_only)


def test_windows_cover_every_frame(rng: np.random.Generator) -> None:
    lengths = [5, 64, 130]
    windows = window_starts(lengths, 32, rng)
    for index, length in enumerate(lengths):
        covered = set()
        for i, start in windows:
            if i == index:
                covered |= set(range(start, min(start + 32, length)))
        assert covered == set(range(length))


def test_judged_windows_take_the_long_enough_pieces_in_turn() -> None:
    pieces = [np.full((n, 2), n, np.float32) for n in (3, 40, 1, 25)]
    first = windows_in_turn(pieces, 5, 10, np.random.default_rng(7), min_length=10)
    again = windows_in_turn(pieces, 5, 10, np.random.default_rng(7), min_length=10)
    assert [int(w[0, 0]) for w in first] == [40, 25, 40, 25, 40]  # 3 and 1 are too short
    assert all(w.shape == (10, 2) for w in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))  # a seeded draw repeats
    short = windows_in_turn(pieces, 4, 10, np.random.default_rng(0), min_length=2)
    assert [len(w) for w in short] == [3, 10, 10, 3]  # up to 10 frames from a shorter piece
    assert windows_in_turn(pieces, 3, 10, np.random.default_rng(0), min_length=41) == []


def test_training_windows_carry_their_context_frame(rng: np.random.Generator) -> None:
    seq = (rng.random((10, 176)) < 0.2).astype(np.uint8)
    batch = next(training_batches([seq], [(0, 0), (0, 4)], seq_len=8, batch_size=2, rng=rng))
    assert batch["frames"].shape == (2, 9, 176)
    assert not batch["frames"][0, 0].any()  # the silent start frame
    assert np.array_equal(batch["frames"][0, 1:].numpy(), seq[:8])
    assert np.array_equal(batch["frames"][1, :7].numpy(), seq[3:10])  # frame 3 is context for 4..9
    assert batch["mask"][0].tolist() == [0.0] + [1.0] * 8
    assert batch["mask"][1].tolist() == [0.0] + [1.0] * 6 + [0.0] * 2  # frames 4..9, then padding


def test_start_frame_and_overlap(rng: np.random.Generator) -> None:
    seq = np.arange(12, dtype=np.float32).reshape(6, 2)
    start = np.array([-1.0, -2.0], np.float32)
    batch = next(training_batches([seq], [(0, 0)], seq_len=3, batch_size=1, start=start, rng=rng))
    assert batch["frames"][0, 0].tolist() == [-1.0, -2.0]
    tiled = window_starts([100], 10, np.random.default_rng(0))
    halves = window_starts([100], 10, np.random.default_rng(0), overlap=0.5)
    assert len(halves) >= 2 * len(tiled) - 2 and all(b - a == 5 for (_, a), (_, b) in zip(halves[1:], halves[2:]))


def test_transposition_keeps_notes_in_range(rng: np.random.Generator) -> None:
    frames = np.zeros((4, 176), np.uint8)
    frames[:, 0] = frames[:, 88 + 0] = 1  # lowest key: cannot go down
    up = transpose_frames(frames, 2, 88)
    assert up[:, 2].all() and up[:, 90].all() and up.sum() == frames.sum()
    seqs = [frames]
    augment = PianoRollConfig().augmenter(5)
    for _ in range(20):
        batch = next(training_batches(seqs, [(0, 0)], seq_len=4, batch_size=1, augment=augment, rng=rng))
        assert batch["frames"][:, 1:].sum() == frames.sum()


def test_sequence_batches_pad_and_mask() -> None:
    seqs = [np.ones((3, 4), np.uint8), np.ones((5, 4), np.uint8)]
    batch = next(sequence_batches(seqs, batch_size=2))
    assert batch["mask"].tolist() == [[0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1]]  # start frame, unscored first


def test_prepare_folder_splits_skips_and_caches(midi_folder: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    (midi_folder / "broken.mid").write_bytes(b"MThd garbage")
    (midi_folder / "empty.mid").write_bytes(b"")
    data = DataConfig(source=str(midi_folder), valid_fraction=0.2, test_fraction=0.2, workers=1)
    rep = PianoRollConfig(step="eighth")
    prepared = prepare_data(data, rep, progress=False)
    assert {Path(f).name for f, _ in prepared.skipped} == {"broken.mid", "empty.mid"}
    names = {s: set(n) for s, n in prepared.names.items()}
    assert sum(len(n) for n in names.values()) == 9
    home = [s for s, n in names.items() if "tune3" in n]
    assert "copy_of_tune3" in names[home[0]]  # a duplicate file never leaks across splits
    cached = prepare_data(data, rep, progress=False)
    assert cached.names == prepared.names
    assert all(np.array_equal(a, b) for s in prepared.splits for a, b in zip(prepared.splits[s], cached.splits[s]))
    assert len(list((tmp_path / "cache" / "prepared").glob("*.npz"))) == 1


def test_prepare_errors(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    rep = PianoRollConfig()
    with pytest.raises(DataError, match="not found"):
        prepare_data(DataConfig(source=str(tmp_path / "nowhere")), rep, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no usable pieces"):
        prepare_data(DataConfig(source=str(tmp_path / "empty")), rep, progress=False)
    mat = SHARED_DATA / "polyphonic" / "JSB_Chorales.mat"
    if mat.exists():
        with pytest.raises(ConfigError, match="onsets"):
            prepare_data(DataConfig(source=str(mat)), rep, progress=False)


def test_prepare_benchmark_file(tmp_path: Path, monkeypatch) -> None:
    mat = SHARED_DATA / "polyphonic" / "JSB_Chorales.mat"
    if not mat.exists():
        pytest.skip("shared benchmark data not present")
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    prepared = prepare_data(DataConfig(source=str(mat)), PianoRollConfig(step="quarter", onsets=False), progress=False)
    assert [len(prepared.splits[s]) for s in ("train", "valid", "test")] == [229, 76, 77]
    assert prepared.frame_count("test") == 4725


# The four pairs of music21 Bach chorales whose soprano lines are identical (found by comparing
# every chorale's soprano notes): each pair must land in one split.
SAME_SOPRANO = [("bwv194.6", "bwv39.7"), ("bwv244.44", "bwv244.15"), ("bwv62.6", "bwv274"), ("bwv177.4", "bwv117.4")]


def test_bach_chorales_sharing_a_soprano_share_a_split() -> None:
    from tunesmith.io import corpus_paths
    from tunesmith.io.score import read_score

    wanted = {name for pair in SAME_SOPRANO for name in pair}
    paths = corpus_paths("bach-chorales")
    chosen = [p for p in paths if Path(p).stem in wanted] + paths[:24]  # plus unrelated chorales
    pieces = [read_score(p) for p in dict.fromkeys(chosen)]
    for piece in pieces:
        piece.name = Path(piece.source).stem
    assert wanted <= {p.name for p in pieces}
    for fractions in [(0.1, 0.1), (0.3, 0.3), (0.45, 0.45)]:
        splits = split_by_melody(pieces, valid_fraction=fractions[0], test_fraction=fractions[1])
        where = {pieces[i].name: name for name, idx in splits.items() for i in idx}
        for a, b in SAME_SOPRANO:
            assert where[a] == where[b], (a, b, fractions)
        assert len({where[n] for n in where}) == 3


def test_prepare_normalizes_keys(tmp_path: Path, monkeypatch) -> None:
    from tunesmith.io import write_midi
    from tunesmith.music import Note, Piece, Track

    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    scale = [62, 64, 66, 67, 69, 71, 73, 74]  # D major
    piece = Piece([Track([Note(float(i), p, 1.0) for i, p in enumerate(scale)]), Track([Note(0.0, 38, 8.0)])])
    write_midi(piece, tmp_path / "d_major" / "scale.mid")
    rep = PianoRollConfig(step="quarter", onsets=False, normalize_key=True)
    data = DataConfig(source=str(tmp_path / "d_major"), valid_fraction=0.0, test_fraction=0.0, workers=1)
    frames = prepare_data(data, rep, progress=False).splits["train"][0]
    first_pitches = {21 + k for k in np.flatnonzero(frames[0])}
    assert first_pitches == {60, 36}  # D4 and D2 moved down to C4 and C2


def test_drum_only_files_say_how_to_keep_them(tmp_path: Path, monkeypatch) -> None:
    from tunesmith.io import write_midi
    from tunesmith.music import Note, Piece, Track

    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    beat = Piece([Track([Note(i / 2, 36 + (i % 3) * 2, 0.25) for i in range(16)], is_drum=True)])
    write_midi(beat, tmp_path / "drums" / "beat.mid")
    source = DataConfig(source=str(tmp_path / "drums"), workers=1)
    with pytest.raises(DataError, match="only drum tracks, which representation.drums=false leaves out"):
        prepare_data(source, PianoRollConfig(keys=128), progress=False)
    frames = prepare_data(source, PianoRollConfig(keys=128, drums=True), progress=False).splits["train"][0]
    assert frames[:, :128].any()
