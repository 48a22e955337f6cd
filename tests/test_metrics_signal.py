"""Signal metrics against hand-computed values and NumPy/SciPy references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesmith.errors import TunesmithError
from tunesmith.metrics import METRICS, metrics_of
from tunesmith.metrics.signal import (
    correlation,
    log_spectral_distance,
    mel_cepstral_distortion,
    mse,
    psnr,
    snr,
    spectral_convergence,
    total_harmonic_distortion,
)


def test_mse_by_hand() -> None:
    assert mse([0.0, 1.0, 2.0], [0.0, 0.0, 0.0]) == pytest.approx(5 / 3)


@pytest.mark.parametrize(
    ("data_range", "expected"), [(1.0, 10 * math.log10(1 / 0.125)), (2.0, 10 * math.log10(4 / 0.125))]
)
def test_psnr_by_hand(data_range: float, expected: float) -> None:
    assert psnr([0.0, 1.0], [0.0, 0.5], data_range=data_range) == pytest.approx(expected)


def test_psnr_identical_is_infinite_and_range_checked() -> None:
    assert psnr([1.0, 2.0], [1.0, 2.0], data_range=1.0) == math.inf
    with pytest.raises(TunesmithError, match="data_range"):
        psnr([1.0], [0.0], data_range=0.0)


def test_snr_by_hand() -> None:
    # signal energy 2, noise energy 0.25 -> 10*log10(8)
    assert snr([1.0, 1.0], [1.0, 0.5]) == pytest.approx(10 * math.log10(8))
    assert snr([1.0, 1.0], [1.0, 1.0]) == math.inf


@pytest.mark.parametrize("shape", [(50,), (4, 30)])
def test_correlation_matches_numpy(rng: np.random.Generator, shape: tuple[int, ...]) -> None:
    a = rng.standard_normal(shape)
    b = 0.3 * a + rng.standard_normal(shape)
    assert correlation(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    with pytest.raises(TunesmithError, match="constant"):
        correlation(np.ones(5), a.ravel()[:5])


@pytest.mark.parametrize("scale", [0.0, 0.5, 2.0])
def test_spectral_convergence_of_a_scaled_spectrogram(rng: np.random.Generator, scale: float) -> None:
    spec = np.abs(rng.standard_normal((2, 16, 10)))
    assert spectral_convergence(spec, scale * spec) == pytest.approx(abs(1 - scale))


def test_log_spectral_distance_by_hand() -> None:
    ref = np.ones((2, 2))  # shape=(n_bins, t)
    est = np.array([[10.0, 1.0], [1.0, 1.0]])  # frame 0: bins differ by -20 dB and 0 dB; frame 1 equal
    expected = (math.sqrt((400 + 0) / 2) + 0.0) / 2
    assert log_spectral_distance(ref, est, eps=0.0) == pytest.approx(expected)
    assert log_spectral_distance(ref, 0.1 * ref, eps=0.0) == pytest.approx(20.0)


def test_mel_cepstral_distortion_by_hand() -> None:
    ref = np.zeros((3, 2))  # shape=(n_mfcc, t)
    est = np.array([[5.0, -5.0], [1.0, 0.0], [0.0, 2.0]])  # row 0 (energy) is ignored
    k = 10 / math.log(10)
    assert mel_cepstral_distortion(ref, est) == pytest.approx((k * math.sqrt(2) + k * math.sqrt(8)) / 2)


@pytest.mark.parametrize("given_f0", [True, False])
@pytest.mark.parametrize(("a2", "a3"), [(0.1, 0.05), (0.0, 0.2)])
def test_total_harmonic_distortion_of_a_synthetic_tone(given_f0: bool, a2: float, a3: float) -> None:
    sr, f0 = 8000, 200.0
    t = np.arange(sr) / sr
    y = np.sin(2 * np.pi * f0 * t) + a2 * np.sin(4 * np.pi * f0 * t) + a3 * np.sin(6 * np.pi * f0 * t)
    thd = total_harmonic_distortion(y, sr=sr, f0=f0 if given_f0 else None)
    assert thd == pytest.approx(math.hypot(a2, a3), abs=2e-3)


def test_shape_mismatch_is_one_clear_error() -> None:
    with pytest.raises(TunesmithError, match=r"shape \(3,\) differs"):
        mse(np.zeros(3), np.zeros(4))


def test_registry_holds_every_metric_with_its_kind() -> None:
    assert set(metrics_of("signal")) == {
        "mse",
        "psnr",
        "snr",
        "correlation",
        "spectral_convergence",
        "log_spectral_distance",
        "mel_cepstral_distortion",
        "total_harmonic_distortion",
    }
    assert METRICS["pitch_class_entropy"].kind == "symbolic"
    assert METRICS["mgeval"].kind == "distribution"
    assert {m.kind for m in METRICS.values()} == {"signal", "symbolic", "distribution"}
