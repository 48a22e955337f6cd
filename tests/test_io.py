"""Tests of tunesmith.io: MIDI, MusicXML, ABC, the music21 corpus and piano-roll benchmarks."""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import tunesmith.io as tio
from tunesmith.errors import DataError
from tunesmith.io import SUFFIXES, find_music_files, read_benchmark, read_corpus, read_folder, read_piece, write_midi
from tunesmith.io.midi import read_midi
from tunesmith.io.score import corpus_paths
from tunesmith.music import Note, Piece, Tempo, Track

SHARED_DATA = Path(__file__).parents[2] / "shared/data"
TICK = 1 / 480

MUSICXML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list>
    <score-part id="P1"><part-name>Flute</part-name>
      <score-instrument id="P1-I1"><instrument-name>Flute</instrument-name></score-instrument>
      <midi-instrument id="P1-I1"><midi-channel>1</midi-channel><midi-program>74</midi-program>
      </midi-instrument>
    </score-part>
  </part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>2</divisions><time><beats>4</beats><beat-type>4</beat-type></time>
      </attributes>
      <direction><direction-type><metronome><beat-unit>quarter</beat-unit>
        <per-minute>90</per-minute></metronome></direction-type><sound tempo="90"/></direction>
      <note><pitch><step>C</step><octave>4</octave></pitch><duration>4</duration></note>
      <note><pitch><step>E</step><octave>4</octave></pitch><duration>2</duration></note>
      <note><chord/><pitch><step>G</step><octave>4</octave></pitch><duration>2</duration></note>
      <note><pitch><step>D</step><octave>4</octave></pitch><duration>2</duration>
        <tie type="start"/><notations><tied type="start"/></notations></note>
    </measure>
    <measure number="2">
      <note><pitch><step>D</step><octave>4</octave></pitch><duration>4</duration>
        <tie type="stop"/><notations><tied type="stop"/></notations></note>
      <note><grace/><pitch><step>F</step><octave>4</octave></pitch><type>eighth</type></note>
      <note><pitch><step>E</step><octave>4</octave></pitch><duration>4</duration></note>
    </measure>
  </part>
</score-partwise>
"""
# (time, pitch, duration) after merging the tie and dropping the grace note
MUSICXML_NOTES = [(0.0, 60, 2.0), (2.0, 64, 1.0), (2.0, 67, 1.0), (3.0, 62, 3.0), (6.0, 64, 2.0)]
EMPTY_MUSICXML = (
    '<?xml version="1.0"?><score-partwise><part-list><score-part id="P1">'
    "<part-name>x</part-name></score-part></part-list>"
    '<part id="P1"><measure number="1"/></part></score-partwise>'
)

ABC = """X:1
T:Test tune
M:4/4
L:1/8
Q:1/4=100
K:G
GABc d2 d2 | [GBd]4 z4 | e2 e2 d4- | d8 |]
"""
ABC_NOTES = [
    (0.0, 67, 0.5),
    (0.5, 69, 0.5),
    (1.0, 71, 0.5),
    (1.5, 72, 0.5),
    (2.0, 74, 1.0),
    (3.0, 74, 1.0),
    (4.0, 67, 2.0),
    (4.0, 71, 2.0),
    (4.0, 74, 2.0),
    (8.0, 76, 1.0),
    (9.0, 76, 1.0),
    (10.0, 74, 6.0),
]

# A protocol-0 pickle as Python 2 wrote them (S'...' strings, I... ints).
PY2_PICKLE = (
    b"(dp0\nS'train'\np1\n(lp2\n(lp3\n(lp4\nI60\naI64\naa(ta(I72\ntaasS'valid'\np6\n"
    b"(lp7\n(lp8\n(lp9\nI21\naaasS'test'\np10\n(lp11\n(lp12\n(lp13\nI108\naaas."
)


def triples(track: Track) -> list[tuple[float, int, float]]:
    return sorted((n.time, n.pitch, n.duration) for n in track.notes)


@pytest.fixture
def piece() -> Piece:
    """Two tracks: a piano with repeated notes back to back and a chord, and drums."""
    piano = Track(
        notes=[Note(float(i), 60, 1.0, 90) for i in range(4)]
        + [Note(0.0, 64, 2.0, 70), Note(0.0, 67, 2.0, 70), Note(4.5, 72, 1 / 3, 100)],
        program=5,
        name="Piano",
    )
    drums = Track(notes=[Note(i * 0.5, 36, 0.5, 110) for i in range(8)], is_drum=True, name="Drums")
    return Piece(tracks=[piano, drums], tempos=[Tempo(0.0, 100.0), Tempo(4.0, 140.0)])


# ---------------------------------------------------------------- MIDI


def test_midi_round_trip(piece: Piece, tmp_path: Path) -> None:
    path = write_midi(piece, tmp_path / "new" / "dir" / "song.mid")
    assert path == tmp_path / "new" / "dir" / "song.mid"
    assert os.listdir(path.parent) == ["song.mid"]  # no temporary file left behind
    back = read_piece(path)
    assert (back.name, back.source) == ("song", str(path))
    assert [(t.name, t.program, t.is_drum) for t in back.tracks] == [("Piano", 5, False), ("Drums", 0, True)]
    for original, read in zip(piece.tracks, back.tracks):
        assert len(read.notes) == len(original.notes)
        for (t0, p0, d0), (t1, p1, d1) in zip(triples(original), triples(read)):
            assert p0 == p1 and abs(t0 - t1) <= TICK and abs(d0 - d1) <= TICK
    assert sorted(n.velocity for n in back.tracks[0].notes) == [70, 70, 90, 90, 90, 90, 100]
    assert [t.time for t in back.tempos] == [0.0, 4.0]
    assert [t.qpm for t in back.tempos] == pytest.approx([100.0, 140.0], rel=1e-5)


def test_write_midi_replaces_existing_file(piece: Piece, tmp_path: Path) -> None:
    path = tmp_path / "song.mid"
    path.write_bytes(b"old")
    write_midi(piece, str(path))
    assert len(read_midi(path).tracks) == 2
    assert os.listdir(tmp_path) == ["song.mid"]


def test_midi_tempos_deduplicated_and_default(tmp_path: Path) -> None:
    notes = [Note(0.0, 60, 8.0)]
    tempos = [Tempo(0.0, 120.0), Tempo(2.0, 120.0), Tempo(4.0, 90.0), Tempo(6.0, 90.0)]
    back = read_midi(write_midi(Piece([Track(notes)], tempos=tempos), tmp_path / "a.mid"))
    assert [(t.time, round(t.qpm, 3)) for t in back.tempos] == [(0.0, 120.0), (4.0, 90.0)]
    back = read_midi(write_midi(Piece([Track(notes)], tempos=[]), tmp_path / "b.mid"))
    assert [(t.time, t.qpm) for t in back.tempos] == [(0.0, 120.0)]


def test_read_midi_drops_zero_length_notes(tmp_path: Path) -> None:
    import symusic

    score, track = symusic.Score(480), symusic.Track("a", 0, False)
    track.notes.append(symusic.Note(0, 0, 60, 90))
    track.notes.append(symusic.Note(480, 240, 62, 90))
    score.tracks.append(track)
    score.dump_midi(str(tmp_path / "z.mid"))
    assert triples(read_midi(tmp_path / "z.mid").tracks[0]) == [(1.0, 62, 0.5)]


@pytest.mark.parametrize("bad", [Note(0.0, 128, 1.0), Note(0.0, -1, 1.0)])
def test_write_midi_rejects_bad_pitch(bad: Note, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="pitch"):
        write_midi(Piece([Track([bad])]), tmp_path / "x.mid")
    assert not list(tmp_path.iterdir())


def test_read_nottingham_midi() -> None:
    files = sorted((SHARED_DATA / "midi/nottingham").glob("*.mid"))[:2]
    if len(files) < 2:
        pytest.skip("Nottingham MIDI files not available")
    for path in files:
        piece = read_piece(path)
        assert piece.name == path.stem and len(piece.tracks) >= 1 and len(piece.notes) > 50
        assert all(21 <= n.pitch <= 108 and n.duration > 0 for n in piece.notes)
        assert piece.tempos[0].qpm > 0


# ---------------------------------------------------------------- MusicXML and ABC


def write_mxl(path: Path, xml: str) -> Path:
    container = '<?xml version="1.0"?><container><rootfiles><rootfile full-path="score.xml"/></rootfiles></container>'
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("score.xml", xml)
    return path


@pytest.mark.parametrize("suffix", [".xml", ".musicxml", ".MXL"])
def test_read_musicxml_chord_tie_grace(suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"tune{suffix}"
    if suffix.lower() == ".mxl":
        write_mxl(path, MUSICXML)
    else:
        path.write_text(MUSICXML)
    piece = read_piece(path)
    assert (piece.name, piece.source) == ("tune", str(path))
    (track,) = piece.tracks
    assert track.name == "Flute" and track.program == 73  # music21 counts programs from 0
    assert triples(track) == MUSICXML_NOTES
    assert {n.velocity for n in track.notes} == {80}
    assert [(t.time, t.qpm) for t in piece.tempos] == [(0.0, 90.0)]


def test_read_abc_tune(tmp_path: Path) -> None:
    path = tmp_path / "tune.abc"
    path.write_text(ABC)
    piece = read_piece(path)
    assert piece.name == "tune" and len(piece.tracks) == 1
    assert triples(piece.tracks[0]) == ABC_NOTES
    assert [(t.time, t.qpm) for t in piece.tempos] == [(0.0, 100.0)]


def test_read_corpus_three_chorales() -> None:
    pieces = read_corpus("bach-chorales", limit=3)
    assert len(pieces) == 3 and len(corpus_paths("bach-chorales", limit=3)) == 3
    assert pieces[0].name == "bwv269"
    for chorale in pieces:
        assert [t.name for t in chorale.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
        assert all(len(t.notes) > 10 for t in chorale.tracks)


def test_read_corpus_unknown_name() -> None:
    with pytest.raises(DataError, match="unknown corpus; available: bach-chorales"):
        read_corpus("mozart-operas")


# ---------------------------------------------------------------- bad files

MIDI_HEADER_ONLY = b"MThd\x00\x00\x00\x06\x00\x01\x00\x00\x01\xe0"
BAD_FILES = {  # name -> (content or None for "do not create", words expected in the reason)
    "song.txt": (b"hello", "unsupported file type"),
    "noext": (b"hello", "unsupported file type"),
    "missing.mid": (None, "file not found"),
    "empty.mid": (b"", "empty file"),
    "empty.abc": (b"", "empty file"),
    "garbage.mid": (b"this is not a MIDI file at all", "not a valid MIDI file"),
    "header.MIDI": (MIDI_HEADER_ONLY, "no notes"),
    "garbage.xml": (b"this is not xml <<<", "cannot parse musicxml"),
    "page.musicxml": (b"<html><body>nope</body></html>", "cannot parse musicxml"),
    "garbage.mxl": (b"PK\x03\x04 not really a zip", "cannot parse musicxml"),
    "garbage.abc": (b"hello there\n\x00\x01 garbage", "cannot parse abc"),
    "silent.xml": (EMPTY_MUSICXML.encode(), "no notes"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_read_piece_bad_files(name: str, tmp_path: Path) -> None:
    content, reason = BAD_FILES[name]
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_piece(path)
    assert type(info.value) is DataError
    assert info.value.path == str(path) and str(path) in str(info.value)
    assert reason in info.value.reason


def test_read_piece_too_large(piece: Piece, tmp_path: Path, monkeypatch) -> None:
    path = write_midi(piece, tmp_path / "big.mid")
    monkeypatch.setattr(tio, "MAX_FILE_BYTES", 16)
    with pytest.raises(DataError, match="over the limit"):
        read_piece(path)


def test_read_piece_folder_named_like_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.mid").mkdir()
    with pytest.raises(DataError, match="not a regular file"):
        read_piece(tmp_path / "dir.mid")


# ---------------------------------------------------------------- folders


@pytest.fixture
def folder(piece: Piece, tmp_path: Path) -> Path:
    root = tmp_path / "music"
    write_midi(piece, root / "b" / "one.mid")
    write_midi(piece, root / "TWO.MID")
    (root / "a").mkdir()
    (root / "a" / "tune.abc").write_text(ABC)
    (root / "a" / "broken.mid").write_bytes(b"garbage, not a MIDI file")
    (root / "notes.txt").write_text("not music")
    return root


def test_find_music_files(folder: Path) -> None:
    found = find_music_files(folder)
    assert found == [folder / "TWO.MID", folder / "a/broken.mid", folder / "a/tune.abc", folder / "b/one.mid"]
    assert set(SUFFIXES) == {".mid", ".midi", ".xml", ".mxl", ".musicxml", ".abc"}
    with pytest.raises(DataError, match="folder not found"):
        find_music_files(folder / "nope")


@pytest.mark.parametrize("workers", [1, 2])
def test_read_folder_skips_bad_files(folder: Path, workers: int, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="tunesmith.io"):
        pieces, failures = read_folder(folder, workers=workers)
    assert [p.name for p in pieces] == ["TWO", "tune", "one"]
    assert failures == [(str(folder / "a/broken.mid"), failures[0][1])]
    assert "not a valid MIDI file" in failures[0][1]
    assert any("broken.mid" in r.getMessage() for r in caplog.records if r.name == "tunesmith.io")


# ---------------------------------------------------------------- benchmarks


def cells(*lengths: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((1, len(lengths)), dtype=object)
    for i, length in enumerate(lengths):
        out[0, i] = (rng.random((length, 88)) < 0.05).astype(np.uint8)
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_read_benchmark_mat(tmp_path: Path, rng: np.random.Generator) -> None:
    data = {"traindata": cells(5, 7, rng=rng), "validdata": cells(3, rng=rng), "testdata": cells(4, 4, rng=rng)}
    scipy.io.savemat(tmp_path / "set.mat", data)
    splits = read_benchmark(tmp_path / "set.mat")
    assert list(splits) == ["train", "valid", "test"]
    assert [[s.shape for s in splits[k]] for k in splits] == [[(5, 88), (7, 88)], [(3, 88)], [(4, 88), (4, 88)]]
    assert all(s.dtype == np.float32 for seqs in splits.values() for s in seqs)
    np.testing.assert_array_equal(splits["train"][1], data["traindata"][0, 1])


def test_read_benchmark_pickle(tmp_path: Path) -> None:
    data = {"train": [[[60, 64], [], [21, 108]], [(72,)]], "valid": [[[50]]], "test": [[[51.0]]]}
    (tmp_path / "set.pkl").write_bytes(pickle.dumps(data))
    splits = read_benchmark(tmp_path / "set.pkl")
    first = splits["train"][0]
    assert first.shape == (3, 88) and first.dtype == np.float32
    assert [list(np.flatnonzero(row) + 21) for row in first] == [[60, 64], [], [21, 108]]
    assert splits["test"][0][0, 51 - 21] == 1.0
    (tmp_path / "py2.pickle").write_bytes(PY2_PICKLE)
    splits = read_benchmark(tmp_path / "py2.pickle")
    assert [list(np.flatnonzero(r) + 21) for r in splits["train"][0]] == [[60, 64], [], [72]]


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_read_benchmark_refuses_globals(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = {"train": [[[60]]], "valid": [[[60]]], "test": Exploit(marker)}
    (tmp_path / "evil.pickle").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataError, match="refusing to unpickle") as info:
        read_benchmark(tmp_path / "evil.pickle")
    assert "system" in info.value.reason and str(tmp_path / "evil.pickle") in str(info.value)
    assert not marker.exists()
    (tmp_path / "np.pickle").write_bytes(pickle.dumps({"train": np.zeros(3)}))
    with pytest.raises(DataError, match="refusing to unpickle numpy"):
        read_benchmark(tmp_path / "np.pickle")


def good_splits() -> dict:
    return {"train": [[[60]]], "valid": [[[60]]], "test": [[[60]]]}


def mat_cells(*arrays: np.ndarray) -> np.ndarray:
    out = np.empty((1, len(arrays)), dtype=object)
    for i, array in enumerate(arrays):
        out[0, i] = array
    return out


GOOD_MAT = {f"{k}data": mat_cells(np.zeros((2, 88))) for k in ("train", "valid", "test")}
BAD_BENCHMARKS = {  # id -> (file name, content: bytes, dict for savemat, or object to pickle)
    "missing": ("nope.mat", None, "file not found"),
    "empty": ("empty.pickle", b"", "empty file"),
    "suffix": ("set.npz", b"data", "unsupported benchmark file type"),
    "corrupt-mat": ("bad.mat", b"not a mat file at all" * 10, "not a readable .mat file"),
    "corrupt-pickle": ("bad.pkl", b"\x80\x04garbage", "not a readable pickle"),
    "mat-missing-key": ("a.mat", {k: v for k, v in GOOD_MAT.items() if k != "testdata"}, "missing variable 'testdata'"),
    "mat-87-columns": ("b.mat", {**GOOD_MAT, "validdata": mat_cells(np.zeros((2, 87)))}, "expected (T, 88)"),
    "mat-not-cells": ("c.mat", {**GOOD_MAT, "traindata": np.zeros((2, 88))}, "not a cell array"),
    "mat-values": ("d.mat", {**GOOD_MAT, "testdata": mat_cells(np.full((2, 88), 2.0))}, "other than 0 and 1"),
    "pickle-list": ("e.pkl", [1, 2, 3], "expected a dict"),
    "pickle-missing-key": ("f.pkl", {"train": [[[60]]], "valid": [[[60]]]}, "missing split"),
    "pickle-empty-split": ("g.pkl", {**good_splits(), "valid": []}, "has no sequences"),
    "pickle-empty-sequence": ("h.pkl", {**good_splits(), "train": [[]]}, "non-empty list"),
    "pickle-pitch-low": ("i.pkl", {**good_splits(), "train": [[[20]]]}, "pitch 20"),
    "pickle-pitch-high": ("j.pkl", {**good_splits(), "test": [[[60], [109]]]}, "pitch 109"),
    "pickle-pitch-str": ("k.pkl", {**good_splits(), "test": [[["C4"]]]}, "pitch 'C4'"),
    "pickle-frame-int": ("l.pkl", {**good_splits(), "test": [[60, 62]]}, "not a list of pitches"),
}


@pytest.mark.parametrize("case", sorted(BAD_BENCHMARKS))
def test_read_benchmark_bad_files(case: str, tmp_path: Path) -> None:
    name, content, reason = BAD_BENCHMARKS[case]
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif path.suffix == ".mat" and content is not None:
        scipy.io.savemat(path, content)
    elif content is not None:
        path.write_bytes(pickle.dumps(content))
    with pytest.raises(DataError) as info:
        read_benchmark(path)
    assert type(info.value) is DataError and str(path) in str(info.value)
    assert reason in info.value.reason


def test_read_jsb_chorales_mat() -> None:
    path = SHARED_DATA / "polyphonic/JSB_Chorales.mat"
    if not path.exists():
        pytest.skip(f"{path} not available")
    splits = read_benchmark(path)
    assert {k: len(v) for k, v in splits.items()} == {"train": 229, "valid": 76, "test": 77}
    frames = {k: sum(len(s) for s in v) for k, v in splits.items()}
    assert frames == {"train": 13_807, "valid": 4_602, "test": 4_725}
    assert all(s.dtype == np.float32 and s.shape[1] == 88 for s in splits["train"])
    assert 1 <= splits["train"][0].sum(axis=1).max() <= 4  # four voices at most
