"""audio.features: every feature against librosa, hand-checked values, and the torch mel/MFCC path.

Tolerances asserted for the torch path: on the dB mel spectrogram with ``top_db=None``, at most
0.01 dB from librosa computed in float64 everywhere, and computed in float32 wherever librosa's
value lies within 80 dB of the peak; MFCCs (top_db=80) within 0.01.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from tests.conftest import SHARED_DATA
from tunesmith.audio import features as F
from tunesmith.errors import ConfigError, DataError

SR = 22050


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small FFTs on a shared 2-core machine: one thread avoids OpenMP spin-waiting (100x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def signals() -> dict[str, np.ndarray]:
    r = np.random.default_rng(7)
    t = np.arange(SR) / SR
    return {
        "sine": (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32),
        "chirp": (0.5 * np.sin(2 * np.pi * (100.0 * t + 2000.0 * t**2))).astype(np.float32),
        "noise": (0.1 * r.standard_normal(SR)).astype(np.float32),
    }


SIGNALS = signals()
OPTS = dict(n_fft=1024, hop_length=256)  # not the defaults, so wrong wiring shows

CASES = {
    "stft_magnitude": (lambda y: F.stft_magnitude(y, **OPTS), lambda y: np.abs(librosa.stft(y, **OPTS))),
    "mel": (
        lambda y: F.mel_spectrogram(y, sr=SR, n_mels=64, fmin=50.0, fmax=8000.0, **OPTS),
        lambda y: librosa.feature.melspectrogram(y=y, sr=SR, n_mels=64, fmin=50.0, fmax=8000.0, **OPTS),
    ),
    "mfcc": (
        lambda y: F.mfcc(y, sr=SR, n_mfcc=13, n_mels=64, **OPTS),
        lambda y: librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, n_mels=64, **OPTS),
    ),
    "chroma": (
        lambda y: F.chroma(y, sr=SR, **OPTS),
        lambda y: librosa.feature.chroma_stft(y=y, sr=SR, **OPTS),
    ),
    "centroid": (
        lambda y: F.spectral_centroid(y, sr=SR, **OPTS),
        lambda y: librosa.feature.spectral_centroid(y=y, sr=SR, **OPTS),
    ),
    "bandwidth": (
        lambda y: F.spectral_bandwidth(y, sr=SR, **OPTS),
        lambda y: librosa.feature.spectral_bandwidth(y=y, sr=SR, **OPTS),
    ),
    "rolloff": (
        lambda y: F.spectral_rolloff(y, sr=SR, roll_percent=0.9, **OPTS),
        lambda y: librosa.feature.spectral_rolloff(y=y, sr=SR, roll_percent=0.9, **OPTS),
    ),
    "flatness": (
        lambda y: F.spectral_flatness(y, **OPTS),
        lambda y: librosa.feature.spectral_flatness(y=y, **OPTS),
    ),
    "contrast": (
        lambda y: F.spectral_contrast(y, sr=SR, **OPTS),
        lambda y: librosa.feature.spectral_contrast(y=y, sr=SR, **OPTS),
    ),
    "zcr": (
        lambda y: F.zero_crossing_rate(y, frame_length=1024, hop_length=256),
        lambda y: librosa.feature.zero_crossing_rate(y, frame_length=1024, hop_length=256),
    ),
    "rms": (
        lambda y: F.rms(y, frame_length=1024, hop_length=256),
        lambda y: librosa.feature.rms(y=y, frame_length=1024, hop_length=256, pad_mode="constant"),
    ),
    "onset": (
        lambda y: F.onset_strength(y, sr=SR, hop_length=256),
        lambda y: librosa.onset.onset_strength(y=y, sr=SR, hop_length=256),
    ),
}


@pytest.mark.parametrize("signal", sorted(SIGNALS))
@pytest.mark.parametrize("feature", sorted(CASES))
def test_matches_librosa(feature, signal):
    ours, reference = CASES[feature]
    y = SIGNALS[signal]
    got, want = ours(y), reference(y)
    frames = 1 + len(y) // 256
    assert got.shape == want.shape and got.shape[-1] == frames
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_hand_checked_values():
    y = SIGNALS["sine"]  # 440 Hz, amplitude 0.5
    middle = slice(4, -4)  # frames away from the zero-padded edges
    assert np.median(F.spectral_centroid(y, sr=SR)[0, middle]) == pytest.approx(440.0, rel=0.02)
    assert np.median(F.rms(y)[0, middle]) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    assert np.median(F.zero_crossing_rate(y)[0, middle]) == pytest.approx(2 * 440 / SR, rel=0.02)
    assert np.argmax(F.chroma(y, sr=SR)[:, middle].mean(axis=1)) == 9  # A
    assert (
        np.median(F.spectral_flatness(SIGNALS["noise"])[0, middle]) > 0.5 > np.median(F.spectral_flatness(y)[0, middle])
    )
    db = F.power_to_db(np.array([[1.0, 1e-3, 1e-12]]), top_db=None)
    np.testing.assert_allclose(db, [[0.0, -30.0, -100.0]], atol=1e-6)


def test_tempo_of_a_click_track():
    sr = 22050
    clicks = librosa.clicks(times=np.arange(0, 12, 0.5), sr=sr, length=12 * sr)  # 120 beats per minute
    assert F.tempo(clicks, sr=sr) == pytest.approx(120.0, rel=0.03)
    both = F.tempo(np.stack([clicks, clicks]), sr=sr)
    assert both.shape == (2,) and np.allclose(both, F.tempo(clicks, sr=sr))


def test_bad_input_and_options():
    with pytest.raises(DataError, match="NaN or infinite"):
        F.mel_spectrogram(np.array([0.0, np.nan, 0.0]), sr=SR)
    with pytest.raises(DataError, match="shape"):
        F.mfcc(np.zeros(0), sr=SR)
    with pytest.raises(ConfigError):
        F.stft_magnitude(SIGNALS["sine"], n_fft=1024, win_length=2048)
    with pytest.raises(ConfigError):
        F.mel_spectrogram_torch(SIGNALS["sine"], sr=SR, hop_length=0)
    with pytest.raises(ConfigError):
        F.mfcc_torch(SIGNALS["sine"], sr=SR, n_mfcc=200)


# ----------------------------------------------------------------------------- torch path


def db_error(y: np.ndarray, **opts) -> tuple[float, float]:
    """(max |dB| error over all bins vs float64 librosa, max error vs float32 librosa within 80 dB)."""
    ref64 = librosa.power_to_db(librosa.feature.melspectrogram(y=y.astype(np.float64), sr=SR, **opts), top_db=None)
    ref32 = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, **opts), top_db=None)
    ours64 = F.power_to_db_torch(
        F.mel_spectrogram_torch(torch.from_numpy(y.astype(np.float64)), sr=SR, **opts), top_db=None
    )
    ours32 = F.power_to_db_torch(F.mel_spectrogram_torch(torch.from_numpy(y), sr=SR, **opts), top_db=None)
    keep = ref32 > ref32.max() - 80.0
    return float(np.abs(ours64.numpy() - ref64).max()), float(np.abs(ours32.numpy() - ref32)[keep].max())


@pytest.mark.parametrize("signal", sorted(SIGNALS))
@pytest.mark.parametrize(
    "opts",
    [{}, dict(n_fft=1024, hop_length=256, win_length=768, n_mels=40, fmin=30.0, fmax=6000.0)],
    ids=["defaults", "custom"],
)
def test_torch_mel_matches_librosa(signal, opts):
    err64, err32 = db_error(SIGNALS[signal], **opts)
    assert err64 < 0.01 and err32 < 0.01


@pytest.mark.parametrize("power", [1.0, 1.5])
def test_torch_mel_other_powers(power):
    y = SIGNALS["chirp"].astype(np.float64)
    want = librosa.feature.melspectrogram(y=y, sr=SR, power=power, n_mels=40)
    got = F.mel_spectrogram_torch(y, sr=SR, power=power, n_mels=40).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * want.max())


def test_torch_mfcc_matches_librosa():
    y = np.stack([SIGNALS["chirp"], SIGNALS["noise"]])
    got = F.mfcc_torch(torch.from_numpy(y), sr=SR, n_mfcc=13).numpy()
    want = np.stack([librosa.feature.mfcc(y=s, sr=SR, n_mfcc=13) for s in y])  # top_db per signal
    assert got.shape == (2, 13, 44)
    assert np.abs(got - want).max() < 0.01


def test_torch_batches_match_single_signals():
    y = np.stack([np.stack(list(SIGNALS.values()))] * 2)  # shape (2, 3, n)
    batch = F.mel_spectrogram_torch(y, sr=SR)
    assert batch.shape == (2, 3, 128, 44)
    single = F.mel_spectrogram_torch(SIGNALS["chirp"], sr=SR)
    torch.testing.assert_close(batch[1, 1], single, rtol=1e-5, atol=1e-6)
    ragged = [SIGNALS["sine"][:5000], SIGNALS["chirp"], SIGNALS["noise"][:12345]]
    mels = F.batch_mel_spectrograms(ragged, sr=SR, max_frames=7)
    assert [m.shape[-1] for m in mels] == [1 + len(s) // 512 for s in ragged]
    for s, m in zip(ragged, mels):
        torch.testing.assert_close(m, F.mel_spectrogram_torch(s, sr=SR), rtol=1e-4, atol=1e-6)
    assert F.batch_mel_spectrograms([], sr=SR) == []
    for s, m in zip(ragged, F.batch_mfccs(ragged, sr=SR, n_mfcc=13)):
        torch.testing.assert_close(m, F.mfcc_torch(s, sr=SR, n_mfcc=13), rtol=1e-4, atol=1e-3)


@pytest.mark.skipif(not (SHARED_DATA / "audio" / "librosa").is_dir(), reason="shared audio data not present")
def test_real_recording_torch_and_numpy():
    from tunesmith.audio.io import read_audio

    y = read_audio(SHARED_DATA / "audio" / "librosa" / "sorohanro_-_solo-trumpet-06.ogg").samples
    err64, err32 = db_error(y)
    assert err64 < 0.01 and err32 < 0.01
    got = F.mfcc_torch(y, sr=SR).numpy()
    assert np.abs(got - librosa.feature.mfcc(y=y, sr=SR)).max() < 0.01
    np.testing.assert_allclose(F.spectral_contrast(y, sr=SR), librosa.feature.spectral_contrast(y=y, sr=SR), rtol=1e-5)
    assert 60.0 < F.tempo(y, sr=SR) < 240.0
