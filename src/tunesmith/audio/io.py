"""Reading and writing recordings: WAV, FLAC, OGG and MP3 through soundfile (libsndfile).

Every file is checked from its header before a single sample is decoded (type, sample rate,
duration), then decoded, checked for NaN/infinite samples, mixed down and resampled with
librosa (soxr). Every problem raises :class:`~tunesmith.errors.DataError` with a one-line reason.
"""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from tunesmith.errors import ConfigError, DataError
from tunesmith.io import map_in_order, outcome_of
from tunesmith.utils import atomic_write

__all__ = [
    "AUDIO_SUFFIXES",
    "MAX_SECONDS",
    "Clip",
    "find_audio_files",
    "is_silent",
    "read_audio",
    "read_audio_folder",
    "write_wav",
]

logger = logging.getLogger("tunesmith.audio")

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
"""Lower-case suffixes :func:`read_audio` reads (matched case-insensitively)."""

MAX_SECONDS = 1800.0
"""Longer recordings are refused from their header (the ``data.max_seconds`` setting)."""

MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 768_000
"""Sample rates outside this range (Hz) are taken for a broken header."""


@dataclass
class Clip:
    """One decoded recording.

    ``samples`` is float32 in [-1, 1] with ``shape=(n,)`` (mono) or ``shape=(channels, n)``;
    ``sr`` its sample rate in Hz; ``name`` the file stem; ``source`` the path it came from.
    """

    samples: np.ndarray
    sr: int
    name: str
    source: str

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.samples.shape[-1] / self.sr


def read_audio(
    path: str | Path,
    *,
    sr: int | None = 22050,
    mono: bool = True,
    max_seconds: float = MAX_SECONDS,
    min_seconds: float = 0.0,
) -> Clip:
    """Read one recording as float32 samples at ``sr`` Hz (``None``: the file's own rate).

    Any sample rate, bit depth (16/24/32-bit PCM, float) and channel count is accepted;
    ``mono=True`` averages the channels into ``shape=(n,)``, ``mono=False`` keeps
    ``shape=(channels, n)``. Resampling uses librosa's soxr (``soxr_hq``).

    Raises:
        DataError: unsupported suffix; missing, empty or unreadable file; a sample rate outside
            1 kHz..768 kHz; longer than ``max_seconds`` (decided from the header, before
            decoding) or shorter than ``min_seconds``; no samples; NaN or infinite samples.
    """
    import soundfile as sf

    path = Path(path)
    info = _check_header(path, max_seconds=max_seconds, min_seconds=min_seconds)
    try:
        data, file_sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # a file whose header passed but whose body is corrupt
        raise DataError(path, f"not a readable audio file ({_one_line(exc)})") from exc
    if data.shape[0] == 0:
        raise DataError(path, "no samples")
    if not np.isfinite(data).all():
        raise DataError(path, "contains NaN or infinite samples")
    samples = data.mean(axis=1) if mono else np.ascontiguousarray(data.T)
    if sr is not None and sr != file_sr:
        samples = _resample(samples, file_sr, sr)
    clip = Clip(np.asarray(samples, dtype=np.float32), int(sr or file_sr), path.stem, str(path))
    if clip.seconds < min_seconds:
        raise DataError(path, f"lasts {clip.seconds:.2f} s, shorter than the minimum of {min_seconds:g} s")
    logger.debug("read %s: %d channel(s), %d Hz, %.1f s", path, info.channels, file_sr, clip.seconds)
    return clip


def is_silent(samples: np.ndarray, *, threshold_db: float = -60.0) -> bool:
    """True when no sample of ``samples`` (any shape) is louder than ``threshold_db`` dBFS.

    The peak amplitude is compared, so a quiet recording with one audible note is not silent.
    An empty array is silent.
    """
    samples = np.asarray(samples)
    if samples.size == 0:
        return True
    peak = float(np.max(np.abs(samples)))
    return 20.0 * math.log10(max(peak, 1e-20)) < threshold_db


def find_audio_files(folder: str | Path) -> list[Path]:
    """Every file under ``folder`` (recursively) whose suffix is in :data:`AUDIO_SUFFIXES`, sorted.

    Raises:
        DataError: ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "folder not found" if not folder.exists() else "not a folder")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def read_audio_folder(
    folder: str | Path,
    *,
    sr: int = 22050,
    max_seconds: float = MAX_SECONDS,
    min_seconds: float = 0.0,
    workers: int = 1,
    progress: bool = False,
    limit: int | None = None,
) -> tuple[list[Clip], list[tuple[str, str]]]:
    """Read the recordings under ``folder`` as mono clips at ``sr`` Hz.

    Returns ``(clips, skipped)``: the usable clips in path order, and ``(path, reason)`` for
    each file that was unreadable, too long, too short or silent (see :func:`is_silent`).
    ``limit`` reads only the first ``limit`` files in path order; ``workers > 1`` reads in that
    many processes; ``progress`` shows a progress bar.

    Raises:
        DataError: ``folder`` is missing or holds no file with a supported suffix.
        ConfigError: ``limit`` or ``workers`` below 1.
    """
    paths = [str(p) for p in find_audio_files(folder)]
    if not paths:
        raise DataError(folder, f"no audio files found (looked for {', '.join(AUDIO_SUFFIXES)}, recursively)")
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be at least 1, got {limit}")
        paths = paths[:limit]
    reader = partial(_read_sounding, sr=sr, max_seconds=max_seconds, min_seconds=min_seconds)
    outcomes = map_in_order(
        partial(outcome_of, reader), paths, workers=workers, progress=progress, desc=Path(folder).name
    )
    clips, skipped = [], []
    for path, (clip, reason) in zip(paths, outcomes):
        if clip is None:
            logger.info("skipping %s: %s", path, reason)
            skipped.append((path, reason))
        else:
            clips.append(clip)
    return clips, skipped


def write_wav(path: str | Path, samples: np.ndarray, *, sr: int, subtype: str = "PCM_16") -> Path:
    """Write ``samples`` (``shape=(n,)`` or ``shape=(channels, n)``, floats in [-1, 1]) as a WAV file.

    Samples that would clip (peak above 1) are scaled down to a peak of 0.999 first. The file is
    written atomically. Returns ``path``.

    Raises:
        DataError: empty, NaN/infinite or more than 2-D samples.
        ConfigError: a sample rate outside 1 kHz..768 kHz or a subtype WAV cannot hold.
    """
    import soundfile as sf

    path = Path(path)
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim not in (1, 2) or data.size == 0:
        raise DataError(path, f"expected samples of shape (n,) or (channels, n), got {data.shape}")
    if not np.isfinite(data).all():
        raise DataError(path, "samples contain NaN or infinite values")
    if not MIN_SAMPLE_RATE <= int(sr) <= MAX_SAMPLE_RATE:
        raise ConfigError(f"sample rate {sr} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    if not sf.check_format("WAV", subtype):
        raise ConfigError(f"WAV cannot hold subtype {subtype!r}; try one of {', '.join(sf.available_subtypes('WAV'))}")
    peak = float(np.max(np.abs(data)))
    if peak > 1.0:
        data = data * (0.999 / peak)
    frames = data if data.ndim == 1 else data.T
    return atomic_write(path, lambda tmp: sf.write(tmp, frames, int(sr), subtype=subtype, format="WAV"))


def _check_header(path: Path, *, max_seconds: float, min_seconds: float):
    """The file's soundfile info, after refusing anything its header says we cannot use."""
    import soundfile as sf

    if path.suffix.lower() not in AUDIO_SUFFIXES:
        got = path.suffix or "(no suffix)"
        raise DataError(path, f"unsupported audio file type {got!r}; supported: {', '.join(AUDIO_SUFFIXES)}")
    if not path.is_file():
        raise DataError(path, "file not found" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise DataError(path, "empty file (0 bytes)")
    try:
        info = sf.info(path)
    except Exception as exc:
        rate = _wav_header_rate(path)
        if rate is not None and not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise DataError(path, f"sample rate {rate} Hz in the header is not usable") from None
        raise DataError(path, f"not a readable audio file ({_one_line(exc)})") from None
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise DataError(path, f"sample rate {info.samplerate} Hz in the header is not usable")
    if info.channels < 1:
        raise DataError(path, "no audio channels")
    seconds = info.frames / info.samplerate
    if seconds > max_seconds:
        raise DataError(
            path, f"lasts {_duration(seconds)}, over the limit of {_duration(max_seconds)} (data.max_seconds)"
        )
    if 0 < seconds < min_seconds:
        raise DataError(path, f"lasts {seconds:.2f} s, shorter than the minimum of {min_seconds:g} s")
    return info


def _read_sounding(path: str, *, sr: int, max_seconds: float, min_seconds: float) -> Clip:
    """:func:`read_audio` (mono) that also refuses a silent recording."""
    clip = read_audio(path, sr=sr, max_seconds=max_seconds, min_seconds=min_seconds)
    if is_silent(clip.samples):
        raise DataError(path, "silent (no sample louder than -60 dBFS)")
    return clip


def _resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    import librosa

    return librosa.resample(samples, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq", axis=-1)


def _wav_header_rate(path: Path) -> int | None:
    """The sample rate a RIFF/WAVE header declares, or None if ``path`` does not start like one."""
    with open(path, "rb") as f:
        head = f.read(28)
    if len(head) < 28 or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt ":
        return None
    return struct.unpack("<I", head[24:28])[0]


def _duration(seconds: float) -> str:
    """``7200 -> "2.0 hours"``, ``1800 -> "30 minutes"``, ``12.5 -> "12.5 s"``."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    if seconds >= 60:
        return f"{seconds / 60:.3g} minutes"
    return f"{seconds:.3g} s"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
