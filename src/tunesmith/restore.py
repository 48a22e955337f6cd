"""Restore a damaged recording with a trained denoiser, and measure how close it comes.

The recording's complex STFT is taken with the run's ``stft`` settings; its magnitudes become
standardized dB frames, the denoiser repairs them window by window (windows of the trained
length overlap and are cross-faded), and the repaired magnitudes go back to sound with the
recording's own phase (inverse STFT, the input's length). Recordings longer than
``chunk_seconds`` are processed in overlapping chunks of samples that are cross-faded too, so
memory stays bounded whatever the length. These are the functions behind ``tunesmith restore``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, DataError, OutputError, TunesmithError

log = logging.getLogger(__name__)

__all__ = ["check_restore_arguments", "quality", "restore_file", "restore_frames", "restore_samples"]


def _stft_settings(rep: Any) -> dict[str, int]:
    c = rep.config
    return {"n_fft": c.n_fft, "hop_length": c.hop_length, "win_length": c.win_length or c.n_fft}


def _window(n_fft: int, win_length: int, device: torch.device) -> torch.Tensor:
    """Periodic Hann window of ``win_length`` centred in ``n_fft`` (librosa's framing)."""
    w = torch.hann_window(win_length, periodic=True, device=device)
    left = (n_fft - win_length) // 2
    return torch.nn.functional.pad(w, (left, n_fft - win_length - left))


def stft(samples: torch.Tensor, *, n_fft: int, hop_length: int, win_length: int) -> torch.Tensor:
    """Complex STFT ``shape=(1 + n_fft // 2, t)`` of ``samples`` ``shape=(n,)``: Hann window,
    ``center=True`` with zero padding, as the ``stft`` representation frames a clip."""
    window = _window(n_fft, win_length, samples.device)
    return torch.stft(
        samples, n_fft, hop_length=hop_length, window=window, center=True, pad_mode="constant", return_complex=True
    )


def istft(spectrum: torch.Tensor, *, n_fft: int, hop_length: int, win_length: int, length: int) -> torch.Tensor:
    """Inverse of :func:`stft`: ``shape=(1 + n_fft // 2, t)`` -> samples ``shape=(length,)``."""
    window = _window(n_fft, win_length, spectrum.device)
    return torch.istft(spectrum, n_fft, hop_length=hop_length, window=window, center=True, length=length)


def _crossfade(length: int, device: torch.device) -> torch.Tensor:
    """Weights ``shape=(length,)`` rising from the edges to the middle, never 0."""
    position = torch.arange(length, device=device, dtype=torch.float32)
    return torch.minimum(position + 1, length - position) / math.ceil(length / 2)


@torch.no_grad()
def restore_frames(
    model: Any, frames: torch.Tensor, *, window: int, overlap: float = 0.5, batch_size: int = 16
) -> torch.Tensor:
    """Repair standardized frames ``shape=(T, D)`` with ``model.denoise`` over windows of
    ``window`` frames that share ``overlap`` of their frames, ``batch_size`` windows at a time;
    where windows overlap their outputs are cross-faded. Returns ``shape=(T, D)``."""
    if window < 1 or not 0 <= overlap < 1 or batch_size < 1:
        raise ConfigError(
            f"need window >= 1, overlap in [0, 1), batch_size >= 1; got {window}, {overlap}, {batch_size}"
        )
    length = frames.shape[0]
    window = min(window, length)
    stride = max(1, round(window * (1 - overlap)))
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)  # the last window ends with the recording
    weight = _crossfade(window, frames.device).unsqueeze(-1)
    total = torch.zeros_like(frames)
    weights = torch.zeros(length, 1, device=frames.device)
    for first in range(0, len(starts), batch_size):
        chunk = starts[first : first + batch_size]
        restored = model.denoise(torch.stack([frames[s : s + window] for s in chunk]))
        for s, out in zip(chunk, restored, strict=True):
            total[s : s + window] += out * weight
            weights[s : s + window] += weight
    return total / weights


@torch.no_grad()
def _restore_chunk(model: Any, rep: Any, samples: torch.Tensor, **options: Any) -> torch.Tensor:
    settings = _stft_settings(rep)
    spectrum = stft(samples, **settings)
    frames = model.from_magnitude(spectrum.abs().T)  # (T, D) standardized dB, floored
    magnitude = model.to_magnitude(restore_frames(model, frames, **options)).T
    restored = torch.polar(magnitude, spectrum.angle())
    return istft(restored, **settings, length=samples.shape[-1])


@torch.no_grad()
def restore_samples(
    model: Any,
    rep: Any,
    samples: np.ndarray,
    *,
    window: int = 128,
    overlap: float = 0.5,
    batch_size: int = 16,
    chunk_seconds: float = 60.0,
) -> np.ndarray:
    """Repair a recording ``shape=(n,)`` at ``rep.sr`` with a trained denoiser ``model`` and its
    ``stft`` representation ``rep``; returns ``shape=(n,)`` float32.

    The repaired magnitudes keep the recording's phase. ``window``, ``overlap`` and ``batch_size``
    are as in :func:`restore_frames`; a recording longer than ``chunk_seconds`` is processed in
    chunks of that length that overlap by a second (at least four FFT frames) and are cross-faded
    linearly."""
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32), device=device)
    if x.ndim != 1 or x.numel() == 0:
        raise DataError("samples", f"expected a mono recording of shape (n,), got {tuple(x.shape)}")
    options = {"window": window, "overlap": overlap, "batch_size": batch_size}
    size = max(int(chunk_seconds * rep.sr), 8 * rep.config.n_fft)
    if x.numel() <= size:
        return _restore_chunk(model, rep, x, **options).cpu().numpy()
    fade = min(max(rep.sr, 4 * rep.config.n_fft), size // 2)
    out = torch.zeros_like(x)
    start = 0
    while start < x.numel():
        end = min(start + size, x.numel())
        piece = _restore_chunk(model, rep, x[start:end], **options)
        gain = torch.ones_like(piece)
        if start > 0:  # fade in over the overlap with the previous chunk, which fades out
            ramp = torch.linspace(0.0, 1.0, fade + 2, device=device)[1:-1]
            gain[:fade] = ramp
            out[start : start + fade] *= 1.0 - ramp
        out[start:end] += piece * gain
        if end == x.numel():
            break
        start = end - fade
    return out.cpu().numpy()


def quality(reference: np.ndarray, estimate: np.ndarray, *, n_fft: int, hop_length: int) -> dict[str, float]:
    """How close ``estimate`` is to the clean ``reference`` (both ``shape=(n,)``):
    ``{"snr_db": waveform SNR, "spectral_convergence": of the STFT magnitudes}``."""
    from .audio.features import stft_magnitude
    from .metrics.signal import snr, spectral_convergence

    spectra = [
        stft_magnitude(np.asarray(x, np.float32), n_fft=n_fft, hop_length=hop_length) for x in (reference, estimate)
    ]
    return {"snr_db": snr(reference, estimate), "spectral_convergence": spectral_convergence(*spectra)}


def check_restore_arguments(path: str | Path, out: str | Path, reference: str | Path | None = None) -> tuple[Any, Any]:
    """Refuse, before any run is loaded, an input or reference that is not a readable recording
    and an ``out`` that is not a ``.wav`` file in a folder that can be written. Returns the input
    and the reference (or None) as mono Clips at their own sample rates.

    Raises:
        DataError: a missing or unreadable input or reference.
        ConfigError: ``out`` does not end in ``.wav`` or is a folder.
        OutputError: ``out``'s folder cannot be created or written.
    """
    from .audio.io import read_audio
    from .utils import check_output_dir

    out = Path(out)
    if out.suffix.lower() != ".wav":
        raise ConfigError(f"--out must be a .wav file, got {out}")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; name a .wav file")
    clip = read_audio(path, sr=None)
    clean = read_audio(reference, sr=None) if reference is not None else None
    if clean is not None and abs(clean.seconds - clip.seconds) > 0.05:
        raise ConfigError(
            f"--reference {reference} lasts {clean.seconds:.2f} s but the input {clip.seconds:.2f} s; "
            "pass the clean version of the same recording"
        )
    try:
        check_output_dir(out.parent, what="--out's folder")
    except TunesmithError as exc:
        raise OutputError(str(exc)) from None
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputError(f"--out {out} cannot be overwritten (no write permission)")
    return clip, clean


def _at_rate(clip: Any, sr: int) -> np.ndarray:
    """A Clip's samples resampled to ``sr`` Hz (soxr, as ``read_audio`` resamples)."""
    if clip.sr == sr:
        return clip.samples
    import librosa

    return librosa.resample(clip.samples, orig_sr=clip.sr, target_sr=sr, res_type="soxr_hq").astype(np.float32)


def restore_file(
    run: Any,
    path: str | Path,
    out: str | Path,
    *,
    reference: str | Path | None = None,
    checkpoint: str = "best",
    device: str = "cpu",
    overlap: float = 0.5,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Restore the recording at ``path`` with the denoiser ``run`` (a run folder or a loaded
    :class:`~tunesmith.run.Run`), write it to ``out`` (a WAV at the run's sample rate).

    With a clean ``reference`` recording, SNR and spectral convergence of the input and of the
    restored recording against it are returned too (``snr_before_db``, ``snr_after_db``,
    ``spectral_convergence_before``, ``spectral_convergence_after``). Recordings are read mono
    and resampled to the run's rate. Returns ``{"out", "seconds", "sr", ...}``.

    Raises:
        ConfigError: the run's model is not a denoiser; a bad ``out``; a reference of another length.
        DataError: an unreadable input or reference.
        OutputError: ``out`` cannot be written.
        CheckpointError: a run that cannot be loaded.
    """
    from .audio.io import write_wav
    from .models.denoiser import Denoiser
    from .run import Run, load_run

    clip, clean_clip = check_restore_arguments(path, out, reference)
    if not isinstance(run, Run):
        run = load_run(run, checkpoint=checkpoint, device=device)
    if not isinstance(run.model, Denoiser):
        raise ConfigError(
            f"{run.path}: model {run.model.name} is not a denoiser; restore needs a run trained with "
            "model.name: denoiser (see configs/audio/denoiser.yaml)"
        )
    rep = run.representation
    window = int(run.config.get("data", {}).get("seq_len", 128))
    damaged = _at_rate(clip, rep.sr)
    restored = restore_samples(run.model, rep, damaged, window=window, overlap=overlap, batch_size=batch_size)
    write_wav(out, restored, sr=rep.sr)
    result: dict[str, Any] = {"out": str(out), "seconds": len(damaged) / rep.sr, "sr": rep.sr}
    if clean_clip is not None:
        clean = _at_rate(clean_clip, rep.sr)
        n = min(len(clean), len(damaged))
        settings = {"n_fft": rep.config.n_fft, "hop_length": rep.config.hop_length}
        before = quality(clean[:n], damaged[:n], **settings)
        after = quality(clean[:n], restored[:n], **settings)
        result.update(
            snr_before_db=before["snr_db"],
            snr_after_db=after["snr_db"],
            spectral_convergence_before=before["spectral_convergence"],
            spectral_convergence_after=after["spectral_convergence"],
        )
    return result
