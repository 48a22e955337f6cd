"""audio.inversion: Griffin-Lim and mel/MFCC inversion, by round trip with asserted quality.

Thresholds (32 iterations, momentum 0.99, measured values in brackets):
via stft: spectral convergence < 0.15 [0.04-0.10]; via mel: < 0.55 [0.09-0.45] and the dB mel
spectrogram of the result within 4 dB on average [1.4-2.9]; via mfcc: mel-cepstral distortion
below a fifth of white noise's [2-15 %].
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from tests.conftest import SHARED_DATA
from tunesmith.audio import features as F
from tunesmith.audio.inversion import (
    griffin_lim,
    mel_to_audio,
    mel_to_stft,
    mfcc_to_audio,
    mfcc_to_mel,
    resynthesize,
    stft_to_audio,
)
from tunesmith.errors import ConfigError, DataError
from tunesmith.metrics.signal import mel_cepstral_distortion, spectral_convergence

SR = 22050
T = np.arange(SR) / SR
HARMONIC = (sum(0.3 / k * np.sin(2 * np.pi * 220 * k * T) for k in range(1, 6)) * np.minimum(1, T * 20)).astype(
    np.float32
)
CHIRP = (0.5 * np.sin(2 * np.pi * (100.0 * T + 2000.0 * T**2))).astype(np.float32)
TRUMPET = SHARED_DATA / "audio" / "librosa" / "sorohanro_-_solo-trumpet-06.ogg"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small FFTs on a shared 2-core machine: one thread avoids OpenMP spin-waiting (100x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trumpet() -> np.ndarray:
    if not TRUMPET.is_file():
        pytest.skip("shared audio data not present")
    from tunesmith.audio.io import read_audio

    return read_audio(TRUMPET).samples[SR // 2 : 2 * SR]


def signal(name: str) -> np.ndarray:
    return {"harmonic": lambda: HARMONIC, "chirp": lambda: CHIRP, "trumpet": trumpet}[name]()


@pytest.mark.parametrize("name", ["harmonic", "chirp", "trumpet"])
def test_round_trips(name, rng):
    y = signal(name)
    audio, q = resynthesize(y, sr=SR, via="stft")
    assert audio.shape == y.shape and audio.dtype == np.float32
    assert q["spectral_convergence"] < 0.15 and q["log_spectral_distance"] > 0
    audio, q = resynthesize(y, sr=SR, via="mel")
    assert q["spectral_convergence"] < 0.55
    mel_db = lambda x: F.power_to_db(F.mel_spectrogram(x, sr=SR))  # noqa: E731
    assert np.abs(mel_db(audio) - mel_db(y)).mean() < 4.0
    audio, q = resynthesize(y, sr=SR, via="mfcc")
    reference = F.mfcc(y, sr=SR)
    noise = (0.1 * rng.standard_normal(len(y))).astype(np.float32)
    distortion = mel_cepstral_distortion(reference, F.mfcc(audio, sr=SR))
    assert distortion < 0.2 * mel_cepstral_distortion(reference, F.mfcc(noise, sr=SR))


def test_griffin_lim_like_librosa():
    """Same algorithm as librosa.griffinlim: mean spectral convergence over 3 seeds within 30 %."""
    S = np.abs(librosa.stft(CHIRP))
    sc = lambda x: spectral_convergence(S, np.abs(librosa.stft(x)))  # noqa: E731
    ours = np.mean([sc(griffin_lim(S, length=len(CHIRP), seed=s)) for s in range(3)])
    theirs = np.mean([sc(librosa.griffinlim(S, n_iter=32, length=len(CHIRP), random_state=s)) for s in range(3)])
    assert ours < 1.3 * theirs
    plain = sc(griffin_lim(S, length=len(CHIRP), momentum=0.0))
    assert ours < plain  # the momentum helps


def test_griffin_lim_batches_and_tensors():
    S = np.abs(librosa.stft(np.stack([CHIRP, HARMONIC]), n_fft=1024, hop_length=256))
    out = griffin_lim(torch.from_numpy(S), hop_length=256, n_iter=16)
    assert isinstance(out, np.ndarray) and out.shape == (2, 256 * (S.shape[-1] - 1))
    for spec, y in zip(S, out):
        assert spectral_convergence(spec, np.abs(librosa.stft(y, n_fft=1024, hop_length=256))) < 0.2
    again = griffin_lim(S, hop_length=256, n_iter=16, length=SR)
    assert again.shape == (2, SR)
    np.testing.assert_allclose(griffin_lim(S, hop_length=256, n_iter=2), griffin_lim(S, hop_length=256, n_iter=2))
    power = stft_to_audio(S**2, power=2.0, hop_length=256, n_iter=16, length=SR)
    np.testing.assert_allclose(power, again, atol=1e-4)


def test_mel_to_stft_fits_the_mel():
    mel = F.mel_spectrogram(CHIRP, sr=SR, n_mels=64)
    X = mel_to_stft(mel, sr=SR, n_fft=2048)
    assert isinstance(X, np.ndarray) and X.dtype == np.float32
    assert isinstance(mel_to_stft(torch.from_numpy(mel), sr=SR), torch.Tensor)
    assert X.shape == (1025, mel.shape[-1]) and (X >= 0).all()
    fb = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=64)
    assert spectral_convergence(mel, fb @ X**2) < 0.05
    assert spectral_convergence(np.abs(librosa.stft(CHIRP)), X) < 0.3
    audio = mel_to_audio(mel, sr=SR, length=len(CHIRP))
    assert audio.shape == CHIRP.shape


def test_mfcc_to_mel_inverts_a_full_dct():
    mel = F.mel_spectrogram(HARMONIC, sr=SR, n_mels=40)
    db = F.power_to_db(mel, top_db=None)
    coeffs = F.dct_matrix(40, 40) @ db
    np.testing.assert_allclose(mfcc_to_mel(coeffs, n_mels=40), np.maximum(mel, 1e-10), rtol=1e-3)
    truncated = mfcc_to_mel(F.mfcc(HARMONIC, sr=SR, n_mfcc=13), n_mels=128)
    assert truncated.shape == (128, mel.shape[-1])
    assert mfcc_to_audio(F.mfcc(HARMONIC, sr=SR), sr=SR, n_iter=4).shape == (512 * (mel.shape[-1] - 1),)


def test_bad_arguments():
    S = np.abs(librosa.stft(CHIRP[:4096]))
    with pytest.raises(DataError, match="negative"):
        griffin_lim(-S)
    with pytest.raises(DataError, match="NaN"):
        griffin_lim(np.full((1025, 3), np.nan))
    with pytest.raises(ConfigError, match="n_fft=2048"):
        griffin_lim(S, n_fft=1024)
    with pytest.raises(ConfigError, match="momentum"):
        griffin_lim(S, momentum=1.5)
    with pytest.raises(ConfigError, match="length=100"):
        griffin_lim(S, length=100)
    with pytest.raises(ConfigError, match="via"):
        resynthesize(CHIRP, sr=SR, via="wavelet")
    with pytest.raises(DataError, match="mono"):
        resynthesize(np.stack([CHIRP, CHIRP]), sr=SR)


@pytest.mark.parametrize(("n_fft", "hop", "win"), [(1024, 256, 1024), (1024, 300, 768)], ids=["divides", "fold"])
def test_resynthesis_matches_torch_istft_and_stft(n_fft, hop, win, rng):
    """The in-place Griffin-Lim step's ISTFT and STFT equal torch.istft / torch.stft (center=True)."""
    from tunesmith.audio.inversion import _Resynthesis

    frames, length = 20, hop * 19 + 7
    spec = torch.from_numpy(rng.standard_normal((2, 1 + n_fft // 2, frames, 2))).to(torch.float64)
    spec = torch.view_as_complex(spec)
    spec = torch.fft.rfft(torch.fft.irfft(spec, n=n_fft, dim=-2), dim=-2)  # a real frame's spectrum
    window = torch.hann_window(win, periodic=True, dtype=torch.float64)
    opts = dict(n_fft=n_fft, hop_length=hop, win_length=win, window=window, center=True)
    want_y = torch.istft(spec, length=length, **opts)
    want = torch.stft(want_y, pad_mode="constant", return_complex=True, **opts)
    resynthesis = _Resynthesis(n_fft, hop, win, frames, length, torch.device("cpu"), torch.float64)
    layout = spec.transpose(-1, -2).contiguous()
    torch.testing.assert_close(resynthesis.signal(layout), want_y)
    torch.testing.assert_close(resynthesis.round_trip(layout), want.transpose(-1, -2))
