"""Pictures of a recording: waveform, spectrogram, mel spectrogram, MFCCs, chromagram (PNG, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tunesmith.audio import features
from tunesmith.audio.io import read_audio
from tunesmith.errors import ConfigError, DataError
from tunesmith.plots import _figure, _save

__all__ = ["KINDS", "plot_audio"]

KINDS = ("waveform", "spectrogram", "mel", "mfcc", "chroma")
"""What :func:`plot_audio` can draw."""


def plot_audio(
    source: str | Path | np.ndarray,
    out_png: str | Path,
    *,
    kind: str = "waveform",
    sr: int | None = None,
    title: str | None = None,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    n_mfcc: int = 20,
) -> Path:
    """Draw a recording and save it as a PNG at ``out_png`` (atomically). Returns ``out_png``.

    ``source`` is an audio file (read mono at ``sr``, default its own rate) or samples of
    shape=(n,) (``sr`` required). ``kind``: ``waveform`` (amplitude over time), ``spectrogram``
    (STFT magnitude in dB, log-frequency axis), ``mel`` (dB mel spectrogram, ``n_mels`` bands),
    ``mfcc`` (``n_mfcc`` coefficients) or ``chroma`` (12 pitch classes).

    Raises:
        ConfigError: unknown ``kind``, or samples without ``sr``.
        DataError: an unreadable file, or samples that are not a non-empty finite 1-D array.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown plot kind {kind!r}; choose one of {', '.join(KINDS)}")
    y, sr, name = _samples(source, sr)
    fig = _figure((10, 4))
    ax = fig.add_subplot()
    if kind == "waveform":
        _waveform(ax, y, sr)
    else:
        data, y_axis, label = _matrix(kind, y, sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, n_mfcc=n_mfcc)
        _image(fig, ax, data, sr=sr, hop_length=hop_length, y_axis=y_axis, label=label)
    ax.set_title(title or f"{name}: {kind} ({len(y) / sr:.1f} s at {sr} Hz)")
    return _save(fig, Path(out_png))


def _samples(source, sr: int | None) -> tuple[np.ndarray, int, str]:
    """Mono float32 samples, their rate and a name for the title."""
    if isinstance(source, (str, Path)):
        clip = read_audio(source, sr=sr)
        return clip.samples, clip.sr, clip.name
    if sr is None:
        raise ConfigError("plot_audio needs sr= (the sample rate in Hz) when given samples instead of a file")
    y = np.asarray(source, dtype=np.float32)
    if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all():
        raise DataError("samples", f"expected finite samples of shape (n,) with n >= 1, got shape {y.shape}")
    return y, int(sr), "samples"


def _waveform(ax, y: np.ndarray, sr: int) -> None:
    import librosa.display

    librosa.display.waveshow(y, sr=sr, ax=ax, color="tab:blue")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    ax.set_ylim(-1.05, 1.05)
    ax.grid(True, alpha=0.3)


def _matrix(kind: str, y: np.ndarray, sr: int, **opts) -> tuple[np.ndarray, str, str]:
    """``(values shape=(n_features, t), librosa y_axis name, colour bar label)`` for ``kind``."""
    n_fft, hop_length = opts["n_fft"], opts["hop_length"]
    if kind == "spectrogram":
        power = features.stft_magnitude(y, n_fft=n_fft, hop_length=hop_length, power=2.0)
        return features.power_to_db(power, ref=float(power.max()) or 1.0), "log", "dB"
    if kind == "mel":
        mel = features.mel_spectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=opts["n_mels"])
        return features.power_to_db(mel, ref=float(mel.max()) or 1.0), "mel", "dB"
    if kind == "mfcc":
        coeffs = features.mfcc(
            y, sr=sr, n_mfcc=opts["n_mfcc"], n_fft=n_fft, hop_length=hop_length, n_mels=opts["n_mels"]
        )
        return coeffs, "frames", "coefficient"
    return features.chroma(y, sr=sr, n_fft=n_fft, hop_length=hop_length), "chroma", "relative energy"


def _image(fig, ax, data: np.ndarray, *, sr: int, hop_length: int, y_axis: str, label: str) -> None:
    import librosa.display

    img = librosa.display.specshow(data, sr=sr, hop_length=hop_length, x_axis="time", y_axis=y_axis, ax=ax)
    if y_axis == "frames":
        ax.set_ylabel("MFCC coefficient")
    ax.set_xlabel("time (s)")
    fig.colorbar(img, ax=ax, label=label)
