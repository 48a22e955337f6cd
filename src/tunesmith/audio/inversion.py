"""Spectrograms back to sound: fast Griffin-Lim in PyTorch, and mel / MFCC inversion.

:func:`griffin_lim` is the fast Griffin-Lim algorithm of Perraudin, Balazs and Sondergaard
(2013): alternate projections between "has this magnitude" and "is a consistent STFT", with
the momentum step ``t_n = c_n + momentum * (c_n - c_{n-1})``; ``momentum=0`` is plain
Griffin-Lim. It runs batched on CPU or GPU, with spectra kept frame-major and the step done
mostly in place (overlap-add by shifted slices when ``hop_length`` divides ``n_fft``), which
is about twice as fast on CPU as chaining ``torch.istft`` and ``torch.stft``. librosa's
``griffinlim`` implements the same iteration; ``benchmarks/audio_features.py`` compares the two.

Every magnitude has ``shape=(..., 1 + n_fft // 2, t)``, every mel ``shape=(..., n_mels, t)``,
every MFCC matrix ``shape=(..., n_mfcc, t)`` and every output ``shape=(..., n)`` (float32).
"""

from __future__ import annotations

import functools

import numpy as np

from tunesmith.audio.features import dct_matrix, mel_filterbank, mel_spectrogram, mfcc, stft_magnitude
from tunesmith.errors import ConfigError, DataError

__all__ = [
    "VIA",
    "griffin_lim",
    "mel_to_audio",
    "mel_to_stft",
    "mfcc_to_audio",
    "mfcc_to_mel",
    "resynthesize",
    "stft_to_audio",
]

VIA = ("mel", "mfcc", "stft")
"""The representations :func:`resynthesize` can go through."""


def griffin_lim(
    magnitude,
    *,
    n_iter: int = 32,
    momentum: float = 0.99,
    n_fft: int | None = None,
    hop_length: int = 512,
    win_length: int | None = None,
    length: int | None = None,
    seed: int = 0,
    device=None,
) -> np.ndarray:
    """Estimate a signal whose STFT magnitude is ``magnitude`` (fast Griffin-Lim, random start phase).

    ``magnitude``: numpy array or tensor, shape=(..., 1 + n_fft // 2, t), non-negative;
    ``n_fft`` defaults to ``2 * (bins - 1)``. The window is a periodic Hann of ``win_length``
    (default ``n_fft``), frames are centred (librosa's ``center=True``). ``seed`` fixes the
    starting phases, ``device`` where it runs (default: the tensor's, or CPU).
    Returns float32 samples, shape=(..., length) (default ``length = hop_length * (t - 1)``).
    """
    import torch

    mag = _magnitude(magnitude, device)
    bins, frames = mag.shape[-2:]
    n_fft = 2 * (bins - 1) if n_fft is None else n_fft
    win_length = n_fft if win_length is None else win_length
    _check_options(n_fft=n_fft, bins=bins, hop_length=hop_length, win_length=win_length, n_iter=n_iter)
    if not 0 <= momentum < 1:
        raise ConfigError(f"momentum must be in [0, 1), got {momentum}; 0.99 is the usual choice")
    lead = mag.shape[:-2]
    length = hop_length * (frames - 1) if length is None else length
    if length < 1 or 1 + length // hop_length != frames:
        raise ConfigError(
            f"length={length} gives {1 + length // hop_length} frames at hop_length={hop_length}, but the "
            f"magnitude has {frames}; pass a length between {hop_length * (frames - 1)} and {hop_length * frames - 1}"
        )
    mag = mag.reshape(-1, bins, frames)
    generator = torch.Generator(device=mag.device).manual_seed(seed)
    angles = torch.rand(mag.shape, generator=generator, device=mag.device, dtype=mag.dtype)
    with torch.no_grad():
        spec = torch.polar(mag, 2 * np.pi * angles).transpose(-1, -2).contiguous()  # (batch, t, bins)
        istft = _Resynthesis(n_fft, hop_length, win_length, frames, length, mag.device, mag.dtype)
        _fast_griffin_lim(spec, mag.transpose(-1, -2).contiguous(), istft, n_iter=n_iter, momentum=momentum)
        y = istft.signal(spec)
    return y.reshape(*lead, length).to("cpu", torch.float32).numpy()


class _Resynthesis:
    """Inverse STFT (windowed overlap-add, ``center=True``) and forward STFT of its result.

    Spectra are laid out frame-major, shape=(batch, t, 1 + n_fft // 2), so neither direction
    transposes; the window-energy envelope and the padded signal buffer are made once.
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, frames: int, length: int, device, dtype):
        import torch

        from tunesmith.audio.features import _window

        self.n_fft, self.hop, self.frames, self.length = n_fft, hop_length, frames, length
        self.window = _window(n_fft, win_length, device, dtype)
        envelope = self._overlap_add(self.window.square().expand(1, frames, n_fft))[0]
        self.inverse_envelope = torch.where(envelope > 1e-11, 1.0 / envelope, torch.zeros_like(envelope))
        self.half = n_fft // 2
        self.kept = min(length, envelope.shape[-1] - self.half)  # samples the frames cover
        self.padded = None

    def _overlap_add(self, frames):
        """Sum of frames (shape=(batch, t, n_fft)) placed every ``hop`` samples: shape=(batch, n)."""
        import torch

        batch, t, n_fft = frames.shape
        if n_fft % self.hop == 0:
            per = n_fft // self.hop
            out = frames.new_zeros(batch, t + per - 1, self.hop)
            parts = frames.reshape(batch, t, per, self.hop)
            for q in range(per):
                out[:, q : q + t] += parts[:, :, q]
            return out.reshape(batch, -1)
        n = n_fft + self.hop * (t - 1)
        folded = torch.nn.functional.fold(
            frames.transpose(1, 2), output_size=(1, n), kernel_size=(1, n_fft), stride=(1, self.hop)
        )
        return folded.reshape(batch, n)

    def _samples(self, spec):
        """Overlap-added, envelope-normalised samples, shape=(batch, n_fft + hop * (t - 1))."""
        import torch

        frames = torch.fft.irfft(spec, n=self.n_fft).mul_(self.window)
        return self._overlap_add(frames).mul_(self.inverse_envelope)

    def signal(self, spec):
        """The signal of ``spec`` (shape=(batch, t, bins)): shape=(batch, length)."""

        samples = self._samples(spec)
        y = samples.new_zeros(samples.shape[0], self.length)
        y[:, : self.kept] = samples[:, self.half : self.half + self.kept]
        return y

    def round_trip(self, spec):
        """STFT of :meth:`signal` (``center=True``, zero padding), shape=(batch, t, bins)."""
        import torch

        samples = self._samples(spec)
        if self.padded is None:  # zeros outside the signal stay zero: constant padding
            self.padded = samples.new_zeros(samples.shape[0], self.length + 2 * self.half)
        self.padded[:, self.half : self.half + self.kept] = samples[:, self.half : self.half + self.kept]
        frames = self.padded.unfold(-1, self.n_fft, self.hop)
        return torch.fft.rfft(frames * self.window)


def _fast_griffin_lim(spec, mag, resynthesis: _Resynthesis, *, n_iter: int, momentum: float) -> None:
    """``n_iter`` fast Griffin-Lim steps on ``spec`` (shape=(batch, t, bins), complex), in place.

    Each step: ``c = STFT(ISTFT(spec))``, ``t = c + momentum * (c - c_previous)``, then
    ``spec = mag * t / (|t| + tiny)``. ``mag``: shape=(batch, t, bins), real.
    """
    import torch

    tiny = torch.finfo(mag.dtype).tiny
    previous = torch.zeros_like(spec) if momentum else None
    for _ in range(n_iter):
        rebuilt = resynthesis.round_trip(spec)
        if momentum:
            accelerated = previous.mul_(-momentum).add_(rebuilt, alpha=1.0 + momentum)
            previous = rebuilt
        else:
            accelerated = rebuilt
        scale = accelerated.abs().add_(tiny)
        torch.div(mag, scale, out=scale)
        spec.copy_(accelerated.mul_(scale))


def stft_to_audio(
    magnitude,
    *,
    n_fft: int | None = None,
    hop_length: int = 512,
    win_length: int | None = None,
    power: float = 1.0,
    n_iter: int = 32,
    momentum: float = 0.99,
    length: int | None = None,
    seed: int = 0,
    device=None,
) -> np.ndarray:
    """Audio from an STFT magnitude raised to ``power`` (1: magnitude, 2: power spectrogram).

    ``magnitude``: shape=(..., 1 + n_fft // 2, t). Returns shape=(..., n) float32.
    """
    mag = _magnitude(magnitude, device)
    if power <= 0:
        raise ConfigError(f"power must be positive, got {power}")
    if power != 1.0:
        mag = mag.pow(1.0 / power)
    return griffin_lim(
        mag, n_iter=n_iter, momentum=momentum, n_fft=n_fft, hop_length=hop_length,
        win_length=win_length, length=length, seed=seed,
    )  # fmt: skip


def mel_to_stft(
    mel,
    *,
    sr: int,
    n_fft: int = 2048,
    power: float = 2.0,
    fmin: float = 0.0,
    fmax: float | None = None,
    n_refine: int = 30,
    device=None,
):
    """The non-negative STFT magnitude whose mel spectrogram (at ``power``) best matches ``mel``.

    Starts from the filterbank's pseudo-inverse (clamped at 0), then takes ``n_refine``
    projected-gradient steps on ``||fb @ X - mel||^2`` subject to ``X >= 0`` (an approximate
    non-negative least squares, batched in PyTorch). ``mel``: numpy array or tensor,
    shape=(..., n_mels, t). Returns ``X ** (1 / power)``, shape=(..., 1 + n_fft // 2, t), of
    the input's kind (numpy array or tensor on ``device``) and floating dtype.
    """
    import torch

    original, mel = mel, _magnitude(mel, device)
    if power <= 0:
        raise ConfigError(f"power must be positive, got {power}")
    fb, pinv, step = _mel_inverse(sr=sr, n_fft=n_fft, n_mels=mel.shape[-2], fmin=fmin, fmax=fmax)
    fb = torch.as_tensor(fb, device=mel.device, dtype=mel.dtype)
    pinv = torch.as_tensor(pinv, device=mel.device, dtype=mel.dtype)
    with torch.no_grad():
        x = torch.clamp(pinv @ mel, min=0.0)
        for _ in range(n_refine):
            x = torch.clamp(x - step * (fb.T @ (fb @ x - mel)), min=0.0)
    return _like(original, x.pow(1.0 / power))


def mel_to_audio(
    mel,
    *,
    sr: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    power: float = 2.0,
    fmin: float = 0.0,
    fmax: float | None = None,
    n_iter: int = 32,
    momentum: float = 0.99,
    length: int | None = None,
    seed: int = 0,
    device=None,
) -> np.ndarray:
    """Audio from a mel spectrogram: :func:`mel_to_stft`, then :func:`griffin_lim`.

    ``mel``: shape=(..., n_mels, t), a power-``power`` mel spectrogram. Returns shape=(..., n).
    """
    mel = _magnitude(mel, device)  # a tensor, so the magnitude stays on the device
    magnitude = mel_to_stft(mel, sr=sr, n_fft=n_fft, power=power, fmin=fmin, fmax=fmax)
    return griffin_lim(
        magnitude, n_iter=n_iter, momentum=momentum, n_fft=n_fft, hop_length=hop_length,
        win_length=win_length, length=length, seed=seed,
    )  # fmt: skip


def mfcc_to_mel(mfcc, *, n_mels: int = 128, ref: float = 1.0):
    """The power mel spectrogram whose MFCCs (DCT-II ortho of the dB mel) are ``mfcc``.

    The missing coefficients ``n_mfcc..n_mels-1`` are taken as 0, so the result is the smoothed
    spectral envelope. ``mfcc``: numpy array or tensor, shape=(..., n_mfcc, t).
    Returns shape=(..., n_mels, t), of the input's kind (numpy array or tensor).
    """
    import torch

    coeffs = _magnitude(mfcc, None, non_negative=False)
    dct = torch.as_tensor(dct_matrix(coeffs.shape[-2], n_mels), device=coeffs.device, dtype=coeffs.dtype)
    db = dct.T @ coeffs  # the DCT is orthonormal: its transpose inverts it
    return _like(mfcc, ref * torch.pow(10.0, db / 10.0))


def mfcc_to_audio(
    mfcc,
    *,
    sr: int,
    n_mels: int = 128,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    n_iter: int = 32,
    momentum: float = 0.99,
    length: int | None = None,
    seed: int = 0,
    device=None,
) -> np.ndarray:
    """Audio from MFCCs: :func:`mfcc_to_mel`, then :func:`mel_to_audio`.

    ``mfcc``: shape=(..., n_mfcc, t). Returns shape=(..., n) float32.
    """
    mel = mfcc_to_mel(mfcc, n_mels=n_mels)
    return mel_to_audio(
        mel, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, fmin=fmin, fmax=fmax,
        n_iter=n_iter, momentum=momentum, length=length, seed=seed, device=device,
    )  # fmt: skip


def resynthesize(
    y: np.ndarray,
    *,
    sr: int,
    via: str = "mel",
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    n_mfcc: int = 20,
    n_iter: int = 32,
    momentum: float = 0.99,
    seed: int = 0,
    device=None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Turn ``y`` into a representation (``via``: mel, mfcc or stft magnitude) and back into sound.

    ``y``: shape=(n,). Returns ``(audio, quality)``: the resynthesised audio, shape=(n,), and
    ``{"spectral_convergence", "log_spectral_distance"}`` of its STFT magnitude against ``y``'s
    (see :mod:`tunesmith.metrics.signal`; 0 means identical).
    """
    from tunesmith.metrics.signal import log_spectral_distance, spectral_convergence

    if via not in VIA:
        raise ConfigError(f"via must be one of {', '.join(VIA)}, got {via!r}")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise DataError("samples", f"resynthesize takes one mono signal of shape (n,), got shape {y.shape}")
    common = dict(hop_length=hop_length, n_iter=n_iter, momentum=momentum, length=len(y), seed=seed, device=device)
    if via == "stft":
        reference = stft_magnitude(y, n_fft=n_fft, hop_length=hop_length)
        audio = griffin_lim(reference, n_fft=n_fft, **common)
    elif via == "mel":
        mel = mel_spectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        audio = mel_to_audio(mel, sr=sr, n_fft=n_fft, **common)
    else:
        coeffs = mfcc(y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        audio = mfcc_to_audio(coeffs, sr=sr, n_mels=n_mels, n_fft=n_fft, **common)
    if via != "stft":
        reference = stft_magnitude(y, n_fft=n_fft, hop_length=hop_length)
    estimate = stft_magnitude(audio, n_fft=n_fft, hop_length=hop_length)
    quality = {
        "spectral_convergence": spectral_convergence(reference, estimate),
        "log_spectral_distance": log_spectral_distance(reference, estimate),
    }
    return audio, quality


@functools.lru_cache(maxsize=8)
def _mel_inverse(*, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None):
    """(filterbank, its pseudo-inverse, 1 / Lipschitz constant of the least-squares gradient), cached."""
    fb = np.asarray(mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax), np.float64)
    singular = np.linalg.svd(fb, compute_uv=False)
    return fb, np.linalg.pinv(fb, rcond=1e-6), 1.0 / float(singular[0] ** 2)


def _like(original, result):
    """``result`` (a tensor) as a numpy array when ``original`` was not a tensor."""
    import torch

    return result if isinstance(original, torch.Tensor) else result.cpu().numpy()


def _magnitude(x, device, *, non_negative: bool = True):
    """``x`` as a floating tensor of shape=(..., rows, t) on ``device``, finite (and >= 0)."""
    import torch

    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if not torch.is_floating_point(t):
        t = t.float()
    if device is not None:
        t = t.to(device)
    if t.ndim < 2 or t.shape[-1] == 0 or t.shape[-2] == 0:
        raise DataError("spectrogram", f"expected shape (..., n_features, t) with t >= 1, got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise DataError("spectrogram", "contains NaN or infinite values")
    if non_negative and bool((t < 0).any()):
        raise DataError("spectrogram", "contains negative values; pass a magnitude or power spectrogram")
    return t


def _check_options(*, n_fft: int, bins: int, hop_length: int, win_length: int, n_iter: int) -> None:
    if bins != 1 + n_fft // 2:
        raise ConfigError(f"a magnitude with {bins} frequency bins needs n_fft={2 * (bins - 1)}, got n_fft={n_fft}")
    if hop_length < 1 or not 1 <= win_length <= n_fft:
        raise ConfigError(
            f"need hop_length >= 1 and 1 <= win_length <= n_fft, got hop_length={hop_length}, win_length={win_length}"
        )
    if n_iter < 0:
        raise ConfigError(f"n_iter must be non-negative, got {n_iter}")
