"""Agreement between a reference and an estimated signal, spectrogram or feature matrix.

Every function is a small pure function of NumPy arrays that returns a float. ``reference`` is
the real clip (or its features) and ``estimate`` the generated or reconstructed one; both must
have the same shape. Spectral measures take magnitude spectrograms ``shape=(..., n_bins, t)``.
"""

from __future__ import annotations

import numpy as np

from tunesmith.errors import TunesmithError

__all__ = [
    "correlation",
    "log_spectral_distance",
    "mel_cepstral_distortion",
    "mse",
    "psnr",
    "snr",
    "spectral_convergence",
    "total_harmonic_distortion",
]


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64, checked to have one and the same non-empty shape."""
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:
        raise TunesmithError(
            f"reference shape {ref.shape} differs from estimate shape {est.shape}; trim or pad them to one length first"
        )
    if ref.size == 0:
        raise TunesmithError("reference and estimate are empty; pass at least one value")
    return ref, est


def mse(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean squared error ``mean((reference - estimate)**2)`` over every element (any shape)."""
    ref, est = _pair(reference, estimate)
    return float(np.mean((ref - est) ** 2))


def psnr(reference: np.ndarray, estimate: np.ndarray, *, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB: ``10*log10(data_range**2 / mse)``.

    ``data_range`` is the peak-to-peak range the data may take (2.0 for audio in [-1, 1], 1.0
    for a normalized spectrogram); it is explicit because guessing it from the data makes the
    number depend on the clip. Identical inputs give ``inf``.
    """
    if not data_range > 0:
        raise TunesmithError(f"data_range must be positive, got {data_range}; pass the peak-to-peak range")
    err = mse(reference, estimate)
    return float("inf") if err == 0 else float(10.0 * np.log10(data_range**2 / err))


def snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio in dB: ``10*log10(sum(reference**2) / sum((reference - estimate)**2))``.

    The noise is the difference between the two; identical inputs give ``inf``.
    """
    ref, est = _pair(reference, estimate)
    noise = float(np.sum((ref - est) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))


def correlation(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Pearson correlation coefficient of the two arrays, flattened (any shape).

    A constant input has no correlation defined; it raises ``TunesmithError``.
    """
    ref, est = _pair(reference, estimate)
    a = ref.ravel() - ref.mean()
    b = est.ravel() - est.mean()
    denom = float(np.sqrt(np.sum(a**2) * np.sum(b**2)))
    if denom == 0:
        raise TunesmithError("correlation is undefined for a constant array; pass a varying signal")
    return float(np.sum(a * b) / denom)


def spectral_convergence(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Spectral convergence ``||S_ref - S_est||_F / ||S_ref||_F`` of magnitude spectrograms.

    ``reference``, ``estimate``: magnitudes, ``shape=(..., n_bins, t)``; the Frobenius norm runs
    over every element. 0 means identical; 1 is what an all-zero estimate scores.
    """
    ref, est = _pair(reference, estimate)
    denom = float(np.linalg.norm(ref.ravel()))
    if denom == 0:
        raise TunesmithError("spectral convergence is undefined for a silent reference; pass a non-zero spectrogram")
    return float(np.linalg.norm((ref - est).ravel()) / denom)


def log_spectral_distance(reference: np.ndarray, estimate: np.ndarray, *, eps: float = 1e-10) -> float:
    """Log-spectral distance in dB between magnitude spectrograms ``shape=(..., n_bins, t)``.

    Per frame, the root mean square over bins of ``20*log10((ref + eps) / (est + eps))``; then
    the mean over frames (and over any leading axes).
    """
    ref, est = _pair(reference, estimate)
    if ref.ndim < 2:
        raise TunesmithError(f"log_spectral_distance needs shape=(..., n_bins, t), got {ref.shape}")
    diff = 20.0 * np.log10((ref + eps) / (est + eps))
    per_frame = np.sqrt(np.mean(diff**2, axis=-2))
    return float(np.mean(per_frame))


def mel_cepstral_distortion(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mel-cepstral distortion in dB between MFCC matrices ``shape=(n_mfcc, t)``.

    Per frame ``10/ln(10) * sqrt(2 * sum_{k>=1} (c_ref[k] - c_est[k])**2)``, skipping the energy
    coefficient ``k = 0``; then the mean over frames. The frames must already be aligned.
    """
    ref, est = _pair(reference, estimate)
    if ref.ndim != 2 or ref.shape[0] < 2:
        raise TunesmithError(f"mel_cepstral_distortion needs shape=(n_mfcc >= 2, t), got {ref.shape}")
    diff = ref[1:] - est[1:]
    per_frame = (10.0 / np.log(10.0)) * np.sqrt(2.0 * np.sum(diff**2, axis=0))
    return float(np.mean(per_frame))


def total_harmonic_distortion(
    y: np.ndarray,
    *,
    sr: int,
    f0: float | None = None,
    n_harmonics: int = 5,
    n_fft: int | None = None,
) -> float:
    """Total harmonic distortion of a clip ``shape=(n,)``, as a ratio (not %, not dB).

    ``sqrt(sum_{h=2}^{n_harmonics} A_h**2) / A_1``, where ``A_h`` is the peak magnitude of a
    Hann-windowed FFT of the whole clip within +-3 bins of ``h * f0``. When ``f0`` is None it is
    estimated as the frequency of the largest spectral peak above 20 Hz. Harmonics above the
    Nyquist frequency are left out.
    """
    x = np.asarray(y, dtype=np.float64).ravel()
    if x.size < 16:
        raise TunesmithError(f"total_harmonic_distortion needs at least 16 samples, got {x.size}")
    n_fft = int(n_fft or x.size)
    spectrum = np.abs(np.fft.rfft(x[:n_fft] * np.hanning(min(n_fft, x.size)), n=n_fft))
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    if f0 is None:
        band = freqs >= 20.0
        f0 = float(freqs[band][np.argmax(spectrum[band])])
    if not 0 < f0 < sr / 2:
        raise TunesmithError(f"fundamental {f0} Hz must lie between 0 and sr/2 = {sr / 2} Hz")
    bin_hz = sr / n_fft

    def peak(freq: float) -> float:
        centre = int(round(freq / bin_hz))
        return float(spectrum[max(centre - 3, 0) : centre + 4].max())

    fundamental = peak(f0)
    if fundamental == 0:
        raise TunesmithError("the clip has no energy at its fundamental; pass a non-silent clip or the right f0")
    harmonics = [peak(h * f0) for h in range(2, n_harmonics + 1) if h * f0 < sr / 2]
    return float(np.sqrt(np.sum(np.square(harmonics))) / fundamental)
