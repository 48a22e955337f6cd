"""Fuzzing the readers: random and mutated MIDI, MusicXML, ABC and benchmark files, and random
pieces through the piano roll. Each input gives a valid result or a TunesmithError, quickly."""

from __future__ import annotations

import io
import math
import os
import pickle
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunesmith.errors import TunesmithError
from tunesmith.io import MAX_QPM, MAX_SECONDS, check_length, read_benchmark, read_piece, write_midi
from tunesmith.music import Note, Piece, Tempo, Track
from tunesmith.representation import PianoRollConfig, to_pianoroll

from .conftest import make_piece
from .test_hardening import HUGE, midi_bytes, note, tempo_event, vlq
from .test_io import ABC, MUSICXML

SRC = Path(__file__).resolve().parents[1] / "src"
FUZZ = settings(
    database=None,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(n: int) -> int:
    """``n`` examples, times ``$TUNESMITH_FUZZ_SCALE`` (e.g. 20 for a longer hunt than the suite's)."""
    return max(1, round(n * float(os.environ.get("TUNESMITH_FUZZ_SCALE", "1"))))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder for the fuzzed files; music21 gets 3 s a file here (60 s by default)."""
    import tunesmith.io.score as score

    limit, score.MAX_PARSE_SECONDS = score.MAX_PARSE_SECONDS, 3.0
    yield tmp_path_factory.mktemp("fuzz")
    score.MAX_PARSE_SECONDS = limit


def valid_midi() -> bytes:
    buffer = Path(os.environ.get("TMPDIR", "/tmp")) / f"tunesmith-fuzz-{os.getpid()}.mid"
    try:
        return write_midi(make_piece(7, beats=8), buffer).read_bytes()
    finally:
        buffer.unlink(missing_ok=True)


VALID_MIDI = valid_midi()


def check_piece(piece: Piece) -> None:
    """What every reader promises about the piece it returns."""
    notes = [n for t in piece.tracks for n in t.notes]
    assert notes, "a piece without notes must be refused"
    for n in notes:
        assert 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127
        assert math.isfinite(n.time) and n.time >= 0 and math.isfinite(n.duration) and n.duration > 0
    assert all(math.isfinite(t.qpm) and t.qpm > 0 and math.isfinite(t.time) for t in piece.tempos)
    assert piece.tempo_map().to_seconds(piece.end) <= MAX_SECONDS
    assert piece.end <= MAX_SECONDS * MAX_QPM / 60


def read_or_refuse(path: Path) -> None:
    try:
        piece = read_piece(path)
    except TunesmithError as exc:
        assert "\n" not in str(exc), f"multi-line reason: {exc!r}"
        return
    check_piece(piece)


# ---------------------------------------------------------------- MIDI


@st.composite
def mutated_midi(draw) -> bytes:
    data = bytearray(VALID_MIDI)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "delta", "division", "tempo"]))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "delta":  # a huge delta time before the first event of the first track
            data[22:22] = vlq(draw(st.integers(2**20, 2**28 - 1)))[:-1] + b"\x00"
        elif kind == "division" and len(data) >= 14:
            data[12:14] = draw(st.integers(0, 3)).to_bytes(2, "big")
        elif kind == "tempo":
            data[22:22] = b"\x00\xff\x51\x03" + draw(st.binary(min_size=3, max_size=3))
    return bytes(data)


HAND_MADE = st.sampled_from(
    [
        HUGE,
        midi_bytes(tempo_event(0) + note(60, 96), division=96),
        midi_bytes(tempo_event(1) + note(60, 2**27)),
        midi_bytes(b"".join(note(60 + i % 12, 1) for i in range(200))),
        midi_bytes(b""),
    ]
)


@settings(FUZZ, max_examples=examples(150))
@given(data=st.one_of(mutated_midi(), HAND_MADE, st.binary(max_size=300), st.binary(max_size=300).map(b"MThd".__add__)))
def test_midi_reader(workdir: Path, data: bytes) -> None:
    path = workdir / "fuzz.mid"
    path.write_bytes(data)
    read_or_refuse(path)


# ---------------------------------------------------------------- MusicXML and ABC


@st.composite
def mutated_text(draw, text: str) -> str:
    chars = list(text)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(chars)))
        kind = draw(st.sampled_from(["delete", "insert", "replace"]))
        if kind == "delete":
            del chars[at : at + draw(st.integers(1, 40))]
        elif kind == "insert":
            chars[at:at] = draw(st.text(alphabet="<>/=\"' abcdefgABCDEFGz0123456789|:[]^_,-", max_size=12))
        elif at < len(chars):
            chars[at] = draw(st.characters(codec="utf-8", exclude_categories=("Cs",)))
    return "".join(chars)


ABC_BODY = st.text(alphabet="ABCDEFGabcdefgz,'^_=/2345678|:[]()-> \n", max_size=120)


@settings(FUZZ, max_examples=examples(25))
@given(text=st.one_of(mutated_text(MUSICXML), st.text(max_size=200).map(lambda t: "<score-partwise>" + t)))
def test_musicxml_reader(workdir: Path, text: str) -> None:
    path = workdir / "fuzz.xml"
    path.write_text(text, encoding="utf-8")
    read_or_refuse(path)


@settings(FUZZ, max_examples=examples(25))
@given(text=st.one_of(mutated_text(ABC), ABC_BODY.map(lambda body: "X:1\nT:t\nM:4/4\nL:1/8\nK:C\n" + body)))
def test_abc_reader(workdir: Path, text: str) -> None:
    path = workdir / "fuzz.abc"
    path.write_text(text, encoding="utf-8")
    read_or_refuse(path)


# ---------------------------------------------------------------- benchmark files


def mat_bytes(splits: dict[str, list[np.ndarray]]) -> bytes:
    buffer = io.BytesIO()
    cells = {}
    for split, rolls in splits.items():
        cell = np.empty((1, len(rolls)), dtype=object)
        for i, roll in enumerate(rolls):
            cell[0, i] = roll
        cells[f"{split}data"] = cell
    scipy.io.savemat(buffer, cells)
    return buffer.getvalue()


VALID_MAT = mat_bytes({s: [np.eye(3, 88)] for s in ("train", "valid", "test")})
FRAME = st.lists(st.one_of(st.integers(0, 130), st.floats(allow_nan=True), st.text(max_size=2)), max_size=4)
SPLITS = st.dictionaries(
    st.sampled_from(["train", "valid", "test", "other"]),
    st.one_of(st.lists(st.lists(FRAME, max_size=4), max_size=3), st.integers(), st.none()),
    max_size=4,
)


@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(out) - 1))
        out[at] = draw(st.integers(0, 255))
    return bytes(out)


@settings(FUZZ, max_examples=examples(60))
@given(
    case=st.one_of(
        st.tuples(st.just(".mat"), st.one_of(mutated_bytes(VALID_MAT), st.binary(max_size=300))),
        st.tuples(st.just(".pickle"), SPLITS.map(lambda d: pickle.dumps(d, protocol=2))),
        st.tuples(st.just(".pkl"), st.one_of(SPLITS.map(pickle.dumps).flatmap(mutated_bytes), st.binary(max_size=200))),
    )
)
def test_benchmark_reader(workdir: Path, case: tuple[str, bytes]) -> None:
    suffix, data = case
    path = workdir / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        splits = read_benchmark(path)
    except TunesmithError as exc:
        assert "\n" not in str(exc)
        return
    assert set(splits) == {"train", "valid", "test"}
    for rolls in splits.values():
        assert rolls and all(r.ndim == 2 and r.shape[1] == 88 and r.dtype == np.float32 for r in rolls)
        assert all(np.isin(r, (0.0, 1.0)).all() for r in rolls)


# ---------------------------------------------------------------- pieces -> piano roll

TIMES = st.one_of(st.floats(0, 64), st.floats(0, 1e12), st.sampled_from([math.inf, math.nan, 1e300]))
NOTES = st.builds(Note, time=TIMES, pitch=st.integers(0, 127), duration=st.one_of(st.floats(1e-6, 16), TIMES))
TEMPOS = st.lists(st.builds(Tempo, time=st.floats(0, 64), qpm=st.floats(1, 1e8)), min_size=1, max_size=3)
TRACKS = st.builds(Track, notes=st.lists(NOTES, min_size=1, max_size=12), is_drum=st.booleans())
PIECES = st.builds(Piece, tracks=st.lists(TRACKS, max_size=3), tempos=TEMPOS)
CONFIGS = st.builds(
    PianoRollConfig,
    keys=st.sampled_from([88, 128]),
    step=st.sampled_from(["quarter", "eighth", "sixteenth"]),
    onsets=st.booleans(),
    drums=st.booleans(),
)


@settings(FUZZ, max_examples=examples(100))
@given(piece=PIECES, config=CONFIGS)
def test_pianoroll_of_any_piece_that_passes_the_bound(piece: Piece, config: PianoRollConfig) -> None:
    try:
        check_length(piece, "random piece")
        roll = to_pianoroll(piece, config)
    except TunesmithError:
        return
    steps = {"quarter": 1, "eighth": 2, "sixteenth": 4}[config.step]
    assert roll.frames.dtype == np.uint8 and roll.frames.shape[1] == config.n_features
    assert len(roll.frames) <= MAX_SECONDS * MAX_QPM / 60 * steps + 1
    low = config.lowest_pitch
    for n in (n for t in piece.tracks if config.drums or not t.is_drum for n in t.notes):
        if low <= n.pitch < low + config.keys:
            assert roll.frames[int(np.rint(n.time * steps)), n.pitch - low] == 1


@settings(FUZZ, max_examples=examples(30))
@given(piece=PIECES, config=st.builds(PianoRollConfig, step=st.just("fps"), fps=st.floats(1, 100)))
def test_pianoroll_in_seconds_of_any_piece_that_passes_the_bound(piece: Piece, config: PianoRollConfig) -> None:
    try:
        check_length(piece, "random piece")
        roll = to_pianoroll(piece, config)
    except TunesmithError:
        return
    assert len(roll.frames) <= MAX_SECONDS * config.fps + 1


# ---------------------------------------------------------------- bounded memory

BOUNDED = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
from tunesmith.errors import DataError
from tunesmith.io import read_piece
from tunesmith.synthesis import render
started = time.monotonic()
for job in sys.argv[1:]:
    what, path = job.split(":", 1)
    try:
        read_piece(path) if what == "read" else render(path, path + ".wav", backend="symusic")
    except DataError as exc:
        print("refused", exc.reason)
    else:
        sys.exit("not refused: " + job)
print("seconds", time.monotonic() - started)
"""


def test_huge_files_are_refused_within_2_gib_and_seconds(tmp_path: Path) -> None:
    files = {  # name -> (content, what refuses it)
        "huge.mid": (HUGE, ("read", "render")),
        "fast.mid": (midi_bytes(tempo_event(1) + note(60, 2**27)), ("read",)),  # 134 s: render may play it
        "silent.mid": (midi_bytes(tempo_event(500000, delta=2**27)), ("read", "render")),  # no notes, 2^27 quarters
    }
    jobs = []
    for name, (data, refusers) in files.items():
        (tmp_path / name).write_bytes(data)
        jobs += [f"{what}:{tmp_path / name}" for what in refusers]
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BOUNDED), *jobs],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(SRC), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert sum(line.startswith("refused") for line in lines) == len(jobs) == 5
    assert float(lines[-1].split()[1]) < 5.0
    assert not list(tmp_path.glob("*.wav"))
