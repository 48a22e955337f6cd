"""The ``resynth`` and ``plot`` subcommands: thin calls into :func:`resynth_file` and :func:`plot_file`.

``cli.py`` calls :func:`register` with its subparsers object.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.audio.inversion import VIA, resynthesize
from tunesmith.audio.io import AUDIO_SUFFIXES, read_audio, write_wav
from tunesmith.audio.plots import KINDS, plot_audio
from tunesmith.errors import ConfigError, DataError

__all__ = ["plot_file", "register", "resynth_file"]


def resynth_file(
    path: str | Path,
    out: str | Path,
    *,
    via: str = "mel",
    n_iter: int = 32,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    n_mfcc: int = 20,
    seed: int = 0,
    device=None,
) -> dict[str, float]:
    """Read ``path`` (mono at ``sr``), resynthesise it ``via`` mel/mfcc/stft, write a WAV at ``out``.

    Returns ``{"spectral_convergence", "log_spectral_distance", "seconds"}`` of the result
    (see :func:`~tunesmith.audio.inversion.resynthesize`).

    Raises:
        ConfigError: an unknown ``via``, ``n_iter < 1``, or ``out`` not ending in ``.wav``.
        DataError: a missing or unreadable audio file.
    """
    if via not in VIA:
        raise ConfigError(f"unknown --via {via!r}; choose one of {', '.join(VIA)}")
    if n_iter < 1:
        raise ConfigError(f"--n-iter must be at least 1, got {n_iter}")
    out = Path(out)
    if out.suffix.lower() != ".wav":
        raise ConfigError(f"--out must be a .wav file, got {out}")
    _check_input(path)
    clip = read_audio(path, sr=sr)
    audio, quality = resynthesize(
        clip.samples, sr=clip.sr, via=via, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
        n_mfcc=n_mfcc, n_iter=n_iter, seed=seed, device=device,
    )  # fmt: skip
    write_wav(out, audio, sr=clip.sr)
    return {**quality, "seconds": clip.seconds}


def plot_file(path: str | Path, out: str | Path, *, kind: str = "waveform", sr: int | None = None) -> Path:
    """Draw the recording at ``path`` as ``kind`` (see :func:`~tunesmith.audio.plots.plot_audio`) into ``out``.

    Raises:
        ConfigError: an unknown ``kind`` or ``out`` not ending in ``.png``.
        DataError: a missing or unreadable audio file.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown --kind {kind!r}; choose one of {', '.join(KINDS)}")
    if Path(out).suffix.lower() != ".png":
        raise ConfigError(f"--out must be a .png file, got {out}")
    _check_input(path)
    return plot_audio(path, out, kind=kind, sr=sr)


def register(subparsers, fmt: type[argparse.HelpFormatter] = argparse.ArgumentDefaultsHelpFormatter) -> None:
    """Add the ``resynth`` and ``plot`` subcommands to ``subparsers`` (from ``add_subparsers``),
    with help formatter ``fmt``."""
    p = subparsers.add_parser(
        "resynth",
        help="turn a recording into mel/MFCC/STFT frames and back into sound (Griffin-Lim)",
        formatter_class=fmt,
    )
    p.add_argument("file", type=Path, help=f"an audio file ({', '.join(AUDIO_SUFFIXES)})")
    p.add_argument("--via", default="mel", metavar="|".join(VIA), help="the representation to go through")
    p.add_argument("--out", type=Path, required=True, help="the WAV file to write")
    p.add_argument("--n-iter", type=int, default=32, help="Griffin-Lim iterations")
    p.add_argument("--sr", type=int, default=22050, help="sample rate to work at, in Hz")
    p.add_argument("--seed", type=int, default=0, help="seed of Griffin-Lim's starting phases")
    p.add_argument("--device", default=None, help="torch device for Griffin-Lim (cpu, cuda); default cpu")
    p.set_defaults(func=_resynth)

    p = subparsers.add_parser(
        "plot", help="draw a recording: waveform, spectrogram, mel, mfcc or chroma", formatter_class=fmt
    )
    p.add_argument("file", type=Path, help=f"an audio file ({', '.join(AUDIO_SUFFIXES)})")
    p.add_argument("--kind", default="waveform", metavar="|".join(KINDS), help="what to draw")
    p.add_argument("--out", type=Path, required=True, help="the PNG file to write")
    p.add_argument("--sr", type=int, default=None, help="resample to this rate in Hz first (default: the file's)")
    p.set_defaults(func=_plot)


def _resynth(args: argparse.Namespace) -> None:
    q = resynth_file(
        args.file, args.out, via=args.via, n_iter=args.n_iter, sr=args.sr, seed=args.seed, device=args.device
    )
    print(
        f"wrote {args.out} ({q['seconds']:.1f} s, via {args.via}, {args.n_iter} Griffin-Lim iterations): "
        f"spectral convergence {q['spectral_convergence']:.4f}, "
        f"log-spectral distance {q['log_spectral_distance']:.2f} dB"
    )


def _plot(args: argparse.Namespace) -> None:
    print(f"wrote {plot_file(args.file, args.out, kind=args.kind, sr=args.sr)}")


def _check_input(path: str | Path) -> None:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found" if not path.exists() else "not a regular file")
