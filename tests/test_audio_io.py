"""audio.io and audio.fma: reading recordings of every kind, refusing bad ones, the FMA layout."""

from __future__ import annotations

import csv
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import SHARED_DATA
from tunesmith.audio.fma import fma_audio_files, is_fma_root, read_fma_tracks
from tunesmith.audio.io import (
    MAX_SECONDS,
    find_audio_files,
    is_silent,
    read_audio,
    read_audio_folder,
    write_wav,
)
from tunesmith.errors import ConfigError, DataError


def tone(seconds: float = 0.5, sr: int = 22050, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_header(sr: int, data_bytes: int, *, channels: int = 1, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM WAV header, written by hand."""
    block = channels * bits // 8
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * block, block, bits)
    return b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", data_bytes)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_bit_depths_read_back(tmp_path, subtype):
    y = tone()
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(path, y, 22050, subtype=subtype)
    clip = read_audio(path)
    assert clip.samples.dtype == np.float32 and clip.samples.shape == y.shape
    assert clip.sr == 22050 and clip.name == path.stem and clip.source == str(path)
    assert np.abs(clip.samples - y).max() < (1e-4 if subtype == "PCM_16" else 1e-6)
    assert clip.seconds == pytest.approx(0.5)


def test_eight_channels_mono_mixdown_and_resampling(tmp_path, rng):
    data = rng.uniform(-0.5, 0.5, size=(44100, 8)).astype(np.float32)
    path = tmp_path / "eight.wav"
    sf.write(path, data, 44100, subtype="FLOAT")
    many = read_audio(path, sr=None, mono=False)
    assert many.samples.shape == (8, 44100) and many.sr == 44100
    np.testing.assert_allclose(many.samples, data.T, atol=1e-7)
    mono = read_audio(path, sr=None)
    np.testing.assert_allclose(mono.samples, data.mean(axis=1), atol=1e-6)
    half = read_audio(path, sr=22050)
    assert half.sr == 22050 and half.samples.shape == (22050,)


def test_resampled_tone_keeps_its_pitch(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(1.0, sr=48000, freq=1000.0), 48000)
    clip = read_audio(path, sr=16000)
    spectrum = np.abs(np.fft.rfft(clip.samples))
    assert len(clip.samples) == 16000
    assert np.fft.rfftfreq(16000, 1 / 16000)[spectrum.argmax()] == pytest.approx(1000.0, abs=1.0)


@pytest.mark.parametrize("fmt,suffix", [("FLAC", ".flac"), ("OGG", ".OGG"), ("MP3", ".mp3")])
def test_compressed_formats(tmp_path, fmt, suffix):
    path = tmp_path / f"x{suffix}"
    sf.write(path, tone(1.0), 22050, format=fmt)
    clip = read_audio(path)
    assert abs(clip.samples.shape[0] - 22050) < 2048  # mp3 adds encoder delay / padding
    assert 0.3 < np.abs(clip.samples).max() < 0.7


def test_sample_rate_zero_in_header(tmp_path):
    path = tmp_path / "zero.wav"
    path.write_bytes(wav_header(0, 2000) + bytes(2000))
    with pytest.raises(DataError, match="sample rate 0 Hz"):
        read_audio(path)


def test_absurd_sample_rate(tmp_path):
    path = tmp_path / "slow.wav"
    path.write_bytes(wav_header(10, 2000) + bytes(2000))
    with pytest.raises(DataError, match="sample rate 10 Hz"):
        read_audio(path)


def test_two_hour_header_refused_before_decoding(tmp_path, monkeypatch):
    """A (sparse) file whose header says 2 hours: refused from the header, no sample decoded."""
    path = tmp_path / "long.wav"
    data_bytes = 2 * 3600 * 8000 * 2
    with open(path, "wb") as f:
        f.write(wav_header(8000, data_bytes))
        f.truncate(44 + data_bytes)  # sparse: takes no disk space

    def no_decoding(*args, **kwargs):
        raise AssertionError("the file was decoded")

    monkeypatch.setattr(sf, "read", no_decoding)
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"lasts 2\.0 hours, over the limit of 30 minutes \(data\.max_seconds\)"):
        read_audio(path)
    assert time.perf_counter() - start < 0.5
    assert MAX_SECONDS == 1800.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    y = tone()
    y[100] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, y, 22050, subtype="FLOAT")
    with pytest.raises(DataError, match="NaN or infinite"):
        read_audio(path)


def test_too_short(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, tone(0.2), 22050)
    with pytest.raises(DataError, match=r"lasts 0\.20 s, shorter than the minimum of 1 s"):
        read_audio(path, min_seconds=1.0)


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("missing.wav", None, "file not found"),
        ("empty.wav", b"", "empty file"),
        ("garbage.wav", b"not audio at all" * 10, "not a readable audio file"),
        ("notes.txt", b"hello", "unsupported audio file type '.txt'"),
    ],
)
def test_unusable_files(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=reason) as info:
        read_audio(path)
    assert "\n" not in str(info.value) and info.value.path == str(path)


def test_is_silent():
    assert is_silent(np.zeros(100))
    assert is_silent(np.full(100, 1e-4))  # -80 dBFS
    assert not is_silent(np.full(100, 1e-2))  # -40 dBFS
    assert not is_silent(np.full(100, 1e-4), threshold_db=-90.0)
    assert is_silent(np.array([]))


def test_read_folder_keeps_good_and_reports_bad(tmp_path):
    folder = tmp_path / "rec"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "b_good.wav", tone(0.5), 22050)
    sf.write(folder / "sub" / "a_good.FLAC", tone(0.5, sr=44100), 44100, format="FLAC")
    sf.write(folder / "c_silent.wav", np.zeros(11025, np.float32), 22050)
    sf.write(folder / "d_short.wav", tone(0.05), 22050)
    (folder / "e_broken.ogg").write_bytes(b"OggS but not really")
    (folder / "readme.txt").write_text("ignored")
    assert [p.name for p in find_audio_files(folder)] == [
        "b_good.wav", "c_silent.wav", "d_short.wav", "e_broken.ogg", "a_good.FLAC",
    ]  # fmt: skip
    clips, skipped = read_audio_folder(folder, min_seconds=0.1)
    assert [c.name for c in clips] == ["b_good", "a_good"]
    assert all(c.sr == 22050 and c.samples.shape == (11025,) for c in clips)
    reasons = {Path(p).name: r for p, r in skipped}
    assert set(reasons) == {"c_silent.wav", "d_short.wav", "e_broken.ogg"}
    assert "silent" in reasons["c_silent.wav"] and "shorter" in reasons["d_short.wav"]
    assert "not a readable audio file" in reasons["e_broken.ogg"]
    clips2, skipped2 = read_audio_folder(folder, min_seconds=0.1, workers=2)
    assert [c.name for c in clips2] == ["b_good", "a_good"] and skipped2 == skipped
    np.testing.assert_array_equal(clips2[0].samples, clips[0].samples)
    limited, _ = read_audio_folder(folder, limit=1)
    assert [c.name for c in limited] == ["b_good"]
    with pytest.raises(ConfigError):
        read_audio_folder(folder, limit=0)


def test_folder_without_audio(tmp_path):
    (tmp_path / "notes.txt").write_text("no audio here")
    with pytest.raises(DataError, match=r"no audio files found \(looked for \.wav, \.flac, \.ogg, \.mp3") as info:
        read_audio_folder(tmp_path)
    assert info.value.path == str(tmp_path)
    with pytest.raises(DataError, match="folder not found"):
        read_audio_folder(tmp_path / "nowhere")


def test_write_wav_round_trip_and_clipping(tmp_path):
    y = tone(0.25)
    path = write_wav(tmp_path / "out" / "x.wav", y, sr=22050)
    back, sr = sf.read(path, dtype="float32")
    assert sr == 22050 and np.abs(back - y).max() < 1e-4
    assert [p.name for p in path.parent.iterdir()] == ["x.wav"]  # no temporary file left
    loud = write_wav(tmp_path / "loud.wav", 3.0 * y, sr=22050, subtype="PCM_24")
    back = sf.read(loud, dtype="float32")[0]
    assert sf.info(loud).subtype == "PCM_24"
    assert 0.99 < np.abs(back).max() <= 1.0
    np.testing.assert_allclose(back, y / np.abs(y).max() * 0.999, atol=1e-5)  # scaled, not clipped
    stereo = write_wav(tmp_path / "st.wav", np.stack([y, -y]), sr=22050)
    assert sf.info(stereo).channels == 2
    with pytest.raises(DataError, match="NaN"):
        write_wav(tmp_path / "nan.wav", np.array([0.0, np.nan]), sr=22050)
    with pytest.raises(ConfigError):
        write_wav(tmp_path / "zero.wav", y, sr=0)


@pytest.mark.skipif(not (SHARED_DATA / "audio" / "librosa").is_dir(), reason="shared audio data not present")
def test_real_recording():
    path = SHARED_DATA / "audio" / "librosa" / "sorohanro_-_solo-trumpet-06.ogg"
    clip = read_audio(path, sr=None)
    assert clip.sr == 22050 and 4.0 < clip.seconds < 6.0
    assert not is_silent(clip.samples) and np.abs(clip.samples).max() <= 1.0


# ------------------------------------------------------------------------------------ FMA

FMA_HEADER = [
    ["", "album", "artist", "set", "set", "track", "track", "track"],
    ["", "title", "name", "split", "subset", "genre_top", "title", "duration"],
    ["track_id", "", "", "", "", "", "", ""],
]
FMA_ROWS = [
    [2, "AWOL", "AWOL", "training", "small", "Hip-Hop", "Food", "168"],
    [5, "AWOL", "AWOL", "validation", "small", "Rock", "This World", "206"],
    [140, "Constant Hitmaker", "Alec K.", "test", "medium", "Folk", "Queen Of The Wires", "253"],
    [1001, "Other", "Nobody, Jr.", "training", "large", "Rock", 'Title, with "quotes"', "99"],
]


@pytest.fixture
def fma_root(tmp_path) -> Path:
    root = tmp_path / "fma"
    (root / "fma_metadata").mkdir(parents=True)
    with open(root / "fma_metadata" / "tracks.csv", "w", newline="") as f:
        csv.writer(f).writerows(FMA_HEADER + FMA_ROWS)
    for track_id, subset in [(2, "small"), (5, "small"), (140, "medium"), (1001, "large")]:
        folder = root / ("fma_large" if subset == "large" else "fma_medium")  # medium holds small's tracks
        path = folder / f"{track_id // 1000:03d}" / f"{track_id:06d}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone(0.3, freq=200.0 + track_id), 22050, format="MP3")
    return root


def test_read_fma_tracks(fma_root):
    tracks = read_fma_tracks(fma_root / "fma_metadata" / "tracks.csv")
    assert [t["track_id"] for t in tracks] == [2, 5, 140, 1001]
    first = tracks[0]
    assert first["genre_top"] == "Hip-Hop" and first["subset"] == "small" and first["split"] == "training"
    assert first["title"] == "Food" and first["album_title"] == "AWOL" and first["artist"] == "AWOL"
    assert tracks[3]["title"] == 'Title, with "quotes"' and tracks[3]["artist_name"] == "Nobody, Jr."


def test_fma_audio_files(fma_root):
    assert is_fma_root(fma_root) and not is_fma_root(fma_root / "fma_metadata")
    names = lambda paths: [int(p.stem) for p in paths]  # noqa: E731
    assert names(fma_audio_files(fma_root)) == [2, 5, 140, 1001]
    assert names(fma_audio_files(fma_root, subset="small")) == [2, 5]
    assert names(fma_audio_files(fma_root, subset="medium")) == [2, 5, 140]
    assert names(fma_audio_files(fma_root, genres=["rock"])) == [5, 1001]
    assert names(fma_audio_files(fma_root, subset="medium", genres=["Rock", "Folk"])) == [5, 140]
    clip = read_audio(fma_audio_files(fma_root, subset="small")[0])
    assert clip.name == "000002" and clip.seconds > 0.2
    with pytest.raises(ConfigError, match="unknown FMA subset 'tiny'"):
        fma_audio_files(fma_root, subset="tiny")
    with pytest.raises(ConfigError, match="known: Folk, Hip-Hop, Rock"):
        fma_audio_files(fma_root, genres=["Polka"])


def test_fma_bad_metadata(tmp_path):
    bad = tmp_path / "tracks.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not an FMA tracks.csv"):
        read_fma_tracks(bad)
    with pytest.raises(DataError, match="not found"):
        read_fma_tracks(tmp_path / "none.csv")
    with pytest.raises(DataError, match="not an FMA folder"):
        fma_audio_files(tmp_path)
