"""synthesis: MIDI -> WAV with a real SoundFont, checked by duration, loudness and pitch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

symusic = pytest.importorskip("symusic")

from tunesmith.errors import ConfigError, DataError, DependencyError, TunesmithError  # noqa: E402
from tunesmith.synthesis import default_soundfont, fix_root_keys, render, system_soundfont  # noqa: E402

has_fluidsynth = shutil.which("fluidsynth") is not None


def write_midi(path: Path, pitches: list[int], *, seconds: float = 1.0, program: int = 0) -> Path:
    """Write a chord of ``pitches`` lasting ``seconds`` at 120 qpm (480 ticks per quarter)."""
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 120.0))
    track = symusic.Track(program=program)
    for pitch in pitches:
        track.notes.append(symusic.Note(0, round(seconds * 960), pitch, 100))
    score.tracks.append(track)
    score.dump_midi(str(path))
    return path


def strongest_frequency(audio: np.ndarray, sr: int) -> float:
    """The frequency (Hz) of the highest peak of the magnitude spectrum of a mono signal."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n=1 << 17))
    freqs = np.fft.rfftfreq(1 << 17, 1 / sr)
    spectrum[freqs < 30] = 0
    return float(freqs[spectrum.argmax()])


def near_harmonic(freq: float, f0: float, *, tolerance: float = 0.03) -> bool:
    """Whether ``freq`` lies within ``tolerance`` (relative) of f0 or one of its harmonics."""
    n = max(1, round(freq / f0))
    return abs(freq - n * f0) <= tolerance * n * f0


@pytest.fixture(scope="module")
def a4_midi(tmp_path_factory) -> Path:
    return write_midi(tmp_path_factory.mktemp("midi") / "a4.mid", [69])


@pytest.mark.parametrize("sample_rate", [22050, 44100])
def test_symusic_renders_audible_a4_at_the_right_pitch(a4_midi, tmp_path, sample_rate):
    wav = render(a4_midi, tmp_path / "out" / "a4.wav", sample_rate=sample_rate, backend="symusic")
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.subtype, info.format) == (sample_rate, "PCM_16", "WAV")
    assert 0.95 <= info.duration <= 3.0
    audio, _ = soundfile.read(str(wav), always_2d=True)
    mono = audio.mean(axis=1)
    assert np.sqrt(np.mean(mono**2)) > 0.005
    peak = strongest_frequency(mono[:sample_rate], sample_rate)
    assert near_harmonic(peak, 440.0), f"strongest peak at {peak:.1f} Hz is not a harmonic of 440 Hz"


@pytest.mark.parametrize("program, pitch", [(0, 48), (0, 60), (0, 72), (24, 57), (40, 64), (73, 76)])
def test_symusic_fundamental_is_in_tune_across_instruments(tmp_path, program, pitch):
    """symusic 0.5.x alone plays most of these semitones off (its issue #55); fix_root_keys corrects it."""
    midi = write_midi(tmp_path / "note.mid", [pitch], program=program)
    audio, sr = soundfile.read(str(render(midi, tmp_path / "note.wav", backend="symusic")), always_2d=True)
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    peak = strongest_frequency(audio.mean(axis=1)[:sr], sr)
    assert near_harmonic(peak, f0), f"program {program} pitch {pitch}: peak {peak:.1f} Hz, f0 {f0:.1f} Hz"


def test_c_major_chord_duration_and_loudness(tmp_path):
    midi = write_midi(tmp_path / "chord.mid", [60, 64, 67], seconds=1.0)
    wav = render(midi, tmp_path / "chord.wav", backend="symusic", sample_rate=22050)
    audio, sr = soundfile.read(str(wav), always_2d=True)
    assert audio.shape[1] == 2
    assert 0.95 <= len(audio) / sr <= 3.0
    assert np.sqrt(np.mean(audio**2)) > 0.01
    assert np.abs(audio).max() < 1.0


def test_fix_root_keys_keeps_the_file_readable_and_grows_only_sample_headers():
    original = default_soundfont().read_bytes()
    fixed = fix_root_keys(original)
    assert fixed[:4] == b"RIFF" and fixed[8:12] == b"sfbk"
    assert int.from_bytes(fixed[4:8], "little") == len(fixed) - 8
    assert (len(fixed) - len(original)) % 46 == 0 and len(fixed) > len(original)
    assert fix_root_keys(fixed) == fixed  # already in tune: nothing left to change


def test_default_soundfont_is_pretty_midis_general_midi_font():
    path = default_soundfont()
    assert path.name == "TimGM6mb.sf2" and path.is_file()
    assert system_soundfont() is None or system_soundfont().is_file()


def test_notes_free_midi_renders_silence(tmp_path):
    midi = write_midi(tmp_path / "empty.mid", [])
    audio, sr = soundfile.read(str(render(midi, tmp_path / "empty.wav", backend="symusic")))
    assert len(audio) >= sr and not np.any(audio)


@pytest.mark.skipif(not has_fluidsynth, reason="the fluidsynth program is not installed")
@pytest.mark.parametrize("sample_rate", [22050, 44100])
def test_fluidsynth_backend(a4_midi, tmp_path, sample_rate):
    wav = render(a4_midi, tmp_path / "a4.wav", backend="fluidsynth", sample_rate=sample_rate)
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.subtype) == (sample_rate, "PCM_16")
    assert 0.95 <= info.duration <= 6.0  # reverb tail
    audio, _ = soundfile.read(str(wav), always_2d=True)
    mono = audio.mean(axis=1)
    assert np.sqrt(np.mean(mono**2)) > 0.002
    assert near_harmonic(strongest_frequency(mono[:sample_rate], sample_rate), 440.0)


@pytest.mark.skipif(has_fluidsynth, reason="only meaningful where fluidsynth is absent")
def test_fluidsynth_backend_missing_says_what_to_install(a4_midi, tmp_path):
    with pytest.raises(DependencyError, match="apt-get install fluidsynth"):
        render(a4_midi, tmp_path / "a4.wav", backend="fluidsynth")


def test_fluidsynth_backend_missing_is_reported(a4_midi, tmp_path, monkeypatch):
    monkeypatch.setattr("tunesmith.synthesis.shutil.which", lambda name: None)
    with pytest.raises(DependencyError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        render(a4_midi, tmp_path / "a4.wav", backend="fluidsynth")
    wav = render(a4_midi, tmp_path / "auto.wav", backend="auto")  # auto falls back to symusic
    assert soundfile.info(str(wav)).samplerate == 44100


def test_auto_prefers_fluidsynth_with_the_given_soundfont(a4_midi, tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        Path(cmd[cmd.index("-F") + 1]).write_bytes(b"RIFF" + bytes(100))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr("tunesmith.synthesis.shutil.which", lambda name: "/usr/bin/fluidsynth")
    monkeypatch.setattr("tunesmith.synthesis.subprocess.run", fake_run)
    render(a4_midi, tmp_path / "a4.wav", soundfont=default_soundfont(), sample_rate=22050)
    (cmd,) = calls
    assert cmd[0] == "fluidsynth" and cmd[-2:] == [str(default_soundfont()), str(a4_midi)]
    assert cmd[cmd.index("-r") + 1] == "22050" and cmd[cmd.index("-O") + 1] == "s16"


def test_fluidsynth_failure_raises_and_keeps_the_old_wav(a4_midi, tmp_path, monkeypatch):
    wav = tmp_path / "a4.wav"
    wav.write_bytes(b"previous take")
    monkeypatch.setattr("tunesmith.synthesis.shutil.which", lambda name: "/usr/bin/fluidsynth")
    monkeypatch.setattr(
        "tunesmith.synthesis.subprocess.run",
        lambda cmd, **kwargs: subprocess.CompletedProcess(cmd, 1, "", "fluidsynth: error: boom"),
    )
    with pytest.raises(TunesmithError, match="boom"):
        render(a4_midi, wav, backend="fluidsynth", soundfont=default_soundfont())
    assert wav.read_bytes() == b"previous take"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a4.wav"]


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "MIDI file not found"),
        (b"", "empty MIDI file"),
        (b"not a midi file at all", "not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x40\x00\x90", "truncated MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x02\x00\x90", "not a readable MIDI file"),
    ],
    ids=["missing", "empty", "garbage", "truncated", "corrupt-track"],
)
def test_bad_midi_raises_data_error(tmp_path, content, reason):
    midi = tmp_path / "bad.mid"
    if content is not None:
        midi.write_bytes(content)
    with pytest.raises(DataError, match=reason) as caught:
        render(midi, tmp_path / "out.wav", backend="symusic")
    assert caught.value.path == str(midi)


def test_missing_soundfont_raises_data_error(a4_midi, tmp_path):
    missing = tmp_path / "nope.sf2"
    for backend in ("symusic", "auto"):
        with pytest.raises(DataError, match="SoundFont not found") as caught:
            render(a4_midi, tmp_path / "out.wav", soundfont=missing, backend=backend)
        assert caught.value.path == str(missing)


def test_corrupt_soundfont_raises_data_error(a4_midi, tmp_path):
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00sfbkLIST\x00\x00")
    with pytest.raises(DataError, match="not a readable SoundFont"):
        render(a4_midi, tmp_path / "out.wav", soundfont=bad, backend="symusic")
    bad.write_bytes(b"definitely not riff")
    with pytest.raises(DataError, match="not a SoundFont"):
        render(a4_midi, tmp_path / "out.wav", soundfont=bad, backend="auto")


def test_unknown_backend_and_bad_sample_rate(a4_midi, tmp_path):
    with pytest.raises(ConfigError, match="auto, fluidsynth, symusic"):
        render(a4_midi, tmp_path / "out.wav", backend="timidity")
    with pytest.raises(ValueError, match="sample_rate"):
        render(a4_midi, tmp_path / "out.wav", sample_rate=0)


def test_failed_render_leaves_existing_wav_untouched(tmp_path):
    wav = tmp_path / "piece.wav"
    wav.write_bytes(b"previous take")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"garbage garbage garbage")
    with pytest.raises(DataError):
        render(bad, wav, backend="symusic")
    bad_sf = tmp_path / "bad.sf2"
    bad_sf.write_bytes(b"RIFF\x10\x00\x00\x00sfbkLIST\x00\x00")
    with pytest.raises(DataError):
        render(write_midi(tmp_path / "ok.mid", [60]), wav, soundfont=bad_sf, backend="symusic")
    assert wav.read_bytes() == b"previous take"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mid", "bad.sf2", "ok.mid", "piece.wav"]
