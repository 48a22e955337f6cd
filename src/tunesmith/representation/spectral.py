"""Audio as spectral frames: log-mel, MFCC and log-magnitude STFT, and back to sound.

A clip ``shape=(n,)`` at ``sr`` Hz becomes frames ``shape=(T, n_features)``, one per
``hop_length`` samples (librosa's framing: centered, ``T = 1 + n // hop_length``):

- ``mel``: the mel power spectrogram in dB, ``n_mels`` features;
- ``mfcc``: the first ``n_mfcc`` coefficients of the DCT-II (orthonormal) of that dB mel
  spectrogram, as librosa computes MFCCs;
- ``stft``: the STFT magnitude in dB, ``1 + n_fft // 2`` features.

Values below ``floor_db`` are raised to it, so silence is one well-defined frame. Each feature is
then normalized by its mean and standard deviation over the training split (``fit``); those
statistics travel in ``state`` inside every checkpoint. Decoding inverts each step: MFCC ->
mel by the inverse DCT, mel -> linear magnitude, then fast Griffin-Lim
(:mod:`tunesmith.audio.inversion`) recovers a phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, TunesmithError
from .base import Augment, Representation

STD_FLOOR_DB = 1.0
"""Smallest spread a feature is divided by: a bin that never changes is not blown up."""

CEILING_DB = 120.0
"""Decoded frames are clipped to this many dB: a full-scale sine peaks at 20 log10(n_fft / 2) dB
(54 dB at n_fft 1024), so real audio never comes near it, while a sampled sequence that drifts
away (an autoregressive model's samples can) still decodes to finite sound instead of overflowing."""


@dataclass
class STFTConfig:
    """How a clip becomes short-time Fourier frames.

    Attributes:
        n_fft: FFT size in samples.
        hop_length: samples between the starts of two frames.
        win_length: window length in samples (None: ``n_fft``).
        floor_db: values below this many dB (re. full scale) are raised to it; silence is this frame.
        n_iter: Griffin-Lim iterations when frames are turned back into sound.
        momentum: Griffin-Lim momentum (0: the classic algorithm; 0.99: fast Griffin-Lim).
        gain_db: augmentation: a random gain in [-gain_db, +gain_db] dB per training window (0: off).
    """

    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None
    floor_db: float = -80.0
    n_iter: int = 32
    momentum: float = 0.99
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        if self.n_fft < 16 or self.hop_length < 1 or self.hop_length > self.n_fft:
            raise ConfigError(
                f"representation.n_fft must be >= 16 and hop_length in [1, n_fft]; got {self.n_fft}, {self.hop_length}"
            )
        if self.win_length is not None and not 1 <= self.win_length <= self.n_fft:
            raise ConfigError(f"representation.win_length must be in [1, n_fft], got {self.win_length}")
        if self.floor_db >= 0 or self.n_iter < 1 or not 0 <= self.momentum < 1 or self.gain_db < 0:
            raise ConfigError("representation.floor_db must be < 0, n_iter >= 1, momentum in [0, 1) and gain_db >= 0")


@dataclass
class MelConfig(STFTConfig):
    """How a clip becomes mel-spectrogram frames.

    Attributes:
        n_mels: mel bands.
        fmin: lowest frequency of the mel bands, Hz.
        fmax: highest frequency of the mel bands, Hz (None: half the sample rate).
    """

    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_mels < 1 or self.fmin < 0 or (self.fmax is not None and self.fmax <= self.fmin):
            raise ConfigError("representation.n_mels must be >= 1 and 0 <= fmin < fmax")


@dataclass
class MFCCConfig(MelConfig):
    """How a clip becomes MFCC frames (computed from the mel spectrogram in dB).

    Attributes:
        n_mfcc: cepstral coefficients kept (at most ``n_mels``).
    """

    n_mfcc: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise ConfigError(f"representation.n_mfcc must be in [1, n_mels], got {self.n_mfcc}")


class SpectralRepresentation(Representation):
    """Shared body: dB frames, per-feature normalization, Griffin-Lim decoding, WAV output."""

    domain = "audio"
    binary = False
    Config: ClassVar[type] = STFTConfig

    # -- subclasses: raw dB frames and back -------------------------------------------------
    def _db(self, samples: np.ndarray, sr: int) -> np.ndarray:
        """``shape=(n,)`` -> dB features ``shape=(n_features, T)``, floored."""
        raise NotImplementedError

    def _audio(self, db: np.ndarray, sr: int) -> np.ndarray:
        """Raw features ``shape=(n_features, T)`` -> samples ``shape=(n,)`` (dB values below
        ``floor_db`` are raised to it first)."""
        raise NotImplementedError

    # -- the pair ---------------------------------------------------------------------------
    @property
    def sr(self) -> int:
        if "sr" not in self.state:
            raise TunesmithError(f"representation {self.name} has no sample rate yet: fit it on training data first")
        return int(self.state["sr"])

    def analyze(self, clip: Any) -> np.ndarray:
        """A Clip -> raw dB frames ``shape=(T, n_features)`` float32."""
        samples = np.asarray(clip.samples, dtype=np.float32)
        return np.ascontiguousarray(self._db(samples, int(clip.sr)).T, dtype=np.float32)

    def decode(self, frames: np.ndarray, *, name: str = "", **context: Any) -> Any:
        """Model frames ``shape=(T, n_features)`` -> a Clip at the training sample rate (dB
        values above ``CEILING_DB`` are clipped on the way)."""
        from ..audio.io import Clip

        db = self.denormalize(np.asarray(frames, dtype=np.float32)).T
        samples = self._audio(db, self.sr)
        return Clip(np.asarray(samples, dtype=np.float32), self.sr, name, "")

    def fit(self, sequences: list[np.ndarray], *, sr: int, **context: Any) -> None:
        """Per-feature mean and standard deviation of the raw training frames."""
        frames = np.concatenate(sequences) if sequences else np.zeros((0, self.n_features), np.float32)
        if not len(frames):
            raise TunesmithError(f"representation {self.name}: no training frames to fit normalization on")
        mean = frames.mean(axis=0, dtype=np.float64)
        std = np.maximum(frames.std(axis=0, dtype=np.float64), STD_FLOOR_DB)
        self.state = {"sr": int(sr), "mean": mean.tolist(), "std": std.tolist()}

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        if "mean" not in self.state:
            raise TunesmithError(f"representation {self.name} is not fitted: no normalization statistics")
        return np.asarray(self.state["mean"], np.float32), np.asarray(self.state["std"], np.float32)

    def normalize(self, frames: np.ndarray) -> np.ndarray:
        mean, std = self._stats()
        return ((frames - mean) / std).astype(np.float32)

    def denormalize(self, frames: np.ndarray) -> np.ndarray:
        mean, std = self._stats()
        return (frames * std + mean).astype(np.float32)

    def silence(self) -> np.ndarray:
        """The normalized frame of a silent signal."""
        quiet = self._db(np.zeros(self.config.n_fft, np.float32), self.sr)[:, 0]
        return self.normalize(quiet[None])[0]

    def augmenter(self, amount: float) -> Augment | None:
        """A random gain of up to ``representation.gain_db`` dB (mel and STFT frames)."""
        limit = self.config.gain_db
        if limit <= 0:
            return None
        floor = self.config.floor_db

        def gain(window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            raw = self.denormalize(window)
            return self.normalize(np.maximum(raw + rng.uniform(-limit, limit), floor))

        return gain

    def write(self, clip: Any, stem: Path, *, audio: bool = True, plot: bool = True, **options: Any) -> dict[str, Path]:
        """``stem.wav`` and, when asked, its mel spectrogram ``stem.png``."""
        from ..audio.io import write_wav

        stem = Path(stem)
        files = {"audio": write_wav(stem.with_suffix(".wav"), clip.samples, sr=clip.sr)}
        if plot:
            from ..audio.plots import plot_audio

            files["plot"] = plot_audio(files["audio"], stem.with_suffix(".png"), kind="mel", title=clip.name)
        return files

    def _stft_options(self) -> dict[str, Any]:
        c = self.config
        return {"n_fft": c.n_fft, "hop_length": c.hop_length, "win_length": c.win_length}

    def _griffin_lim_options(self) -> dict[str, Any]:
        return {**self._stft_options(), "n_iter": self.config.n_iter, "momentum": self.config.momentum}


def _to_db(power: np.ndarray, floor_db: float) -> np.ndarray:
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-12)), floor_db).astype(np.float32)


def _from_db(db: np.ndarray) -> np.ndarray:
    db = np.minimum(np.nan_to_num(db, nan=-np.inf, posinf=CEILING_DB), CEILING_DB)  # NaN: silence
    return np.power(10.0, db / 10.0, dtype=np.float64).astype(np.float32)


class STFT(SpectralRepresentation):
    name = "stft"
    description = "audio as STFT magnitude frames in dB (1 + n_fft/2 bins); back to sound by Griffin-Lim"
    Config = STFTConfig

    @property
    def n_features(self) -> int:
        return 1 + self.config.n_fft // 2

    def _db(self, samples: np.ndarray, sr: int) -> np.ndarray:
        from ..audio.features import stft_magnitude

        return _to_db(stft_magnitude(samples, **self._stft_options()) ** 2, self.config.floor_db)

    def _audio(self, db: np.ndarray, sr: int) -> np.ndarray:
        from ..audio.inversion import stft_to_audio

        return stft_to_audio(np.sqrt(_from_db(np.maximum(db, self.config.floor_db))), **self._griffin_lim_options())


class Mel(SpectralRepresentation):
    name = "mel"
    description = "audio as log-mel spectrogram frames (n_mels bands, dB); back to sound by Griffin-Lim"
    Config = MelConfig

    @property
    def n_features(self) -> int:
        return self.config.n_mels

    def _mel_options(self, sr: int) -> dict[str, Any]:
        c = self.config
        return {"sr": sr, **self._stft_options(), "n_mels": c.n_mels, "fmin": c.fmin, "fmax": c.fmax}

    def _mel_db(self, samples: np.ndarray, sr: int) -> np.ndarray:
        from ..audio.features import mel_spectrogram

        return _to_db(mel_spectrogram(samples, **self._mel_options(sr), power=2.0), self.config.floor_db)

    def _mel_audio(self, mel_db: np.ndarray, sr: int) -> np.ndarray:
        from ..audio.inversion import mel_to_audio

        c = self.config
        return mel_to_audio(
            _from_db(np.maximum(mel_db, c.floor_db)),
            sr=sr,
            **self._griffin_lim_options(),
            fmin=c.fmin,
            fmax=c.fmax,
            power=2.0,
        )

    def _db(self, samples: np.ndarray, sr: int) -> np.ndarray:
        return self._mel_db(samples, sr)

    def _audio(self, db: np.ndarray, sr: int) -> np.ndarray:
        return self._mel_audio(db, sr)


class MFCC(Mel):
    name = "mfcc"
    description = "audio as MFCC frames (DCT of the dB mel spectrogram); back to sound through the mel spectrogram"
    Config = MFCCConfig

    @property
    def n_features(self) -> int:
        return self.config.n_mfcc

    def _db(self, samples: np.ndarray, sr: int) -> np.ndarray:
        from scipy.fft import dct

        return dct(self._mel_db(samples, sr), type=2, norm="ortho", axis=0)[: self.config.n_mfcc].astype(np.float32)

    def _audio(self, db: np.ndarray, sr: int) -> np.ndarray:
        from scipy.fft import idct

        padded = np.zeros((self.config.n_mels, db.shape[1]), np.float32)
        padded[: self.config.n_mfcc] = db
        return self._mel_audio(idct(padded, type=2, norm="ortho", axis=0), sr)

    def augmenter(self, amount: float) -> Augment | None:
        """A gain shifts only the 0th coefficient (by gain * sqrt(n_mels)); floors make it
        inexact, so MFCC frames are not augmented."""
        return None
