"""Shared fixtures: a seeded RNG, tiny synthetic pieces and a folder of tiny MIDI files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunesmith.music import Note, Piece, Tempo, Track

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes to the user's cache (prepared data, repaired SoundFonts)."""
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make_piece(seed: int, *, beats: int = 16, name: str | None = None, qpm: float = 100.0) -> Piece:
    """Two tracks (melody over a bass), eighth-note grid, repeated notes included, seeded."""
    r = np.random.default_rng(seed)
    melody, bass = [], []
    pitch = int(r.integers(60, 72))
    t = 0.0
    while t < beats:
        dur = float(r.choice([0.5, 1.0]))
        melody.append(Note(t, pitch, dur, 90))
        if r.random() < 0.7:  # otherwise repeat the same pitch: must survive round trips
            pitch = int(np.clip(pitch + r.integers(-4, 5), 55, 84))
        t += dur
    for beat in range(0, beats, 2):
        bass.append(Note(float(beat), int(r.integers(36, 48)), 2.0, 70))
    return Piece(
        [Track(melody, 0, False, "melody"), Track(bass, 32, False, "bass")],
        [Tempo(0.0, qpm)],
        name or f"piece{seed}",
    )


@pytest.fixture
def midi_folder(tmp_path: Path) -> Path:
    """A folder of 8 tiny two-track MIDI files (in a sub-folder too) plus a copy of one of them."""
    from tunesmith.io import write_midi

    folder = tmp_path / "music"
    for seed in range(8):
        sub = folder / ("a" if seed % 2 else "b")
        write_midi(make_piece(seed, beats=24), sub / f"tune{seed}.mid")
    write_midi(make_piece(3, beats=24), folder / "copy_of_tune3.mid")
    return folder
