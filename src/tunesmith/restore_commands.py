"""The ``restore`` subcommand: a thin call into :func:`tunesmith.restore.restore_file`.

``cli.py`` calls :func:`register` with its subparsers object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def register(subparsers, fmt: type[argparse.HelpFormatter] = argparse.ArgumentDefaultsHelpFormatter) -> None:
    """Add the ``restore`` subcommand to ``subparsers`` (from ``add_subparsers``), with help
    formatter ``fmt``."""
    p = subparsers.add_parser(
        "restore",
        help="repair a damaged recording (noise, clicks, band-limiting, dropouts) with a trained denoiser",
        formatter_class=fmt,
    )
    p.add_argument("file", type=Path, help="the recording to repair (WAV, FLAC, OGG, MP3), any length")
    p.add_argument("--run", type=Path, required=True, help="a run trained with model.name: denoiser")
    p.add_argument("--out", type=Path, required=True, help="the WAV file to write (at the run's sample rate)")
    p.add_argument(
        "--reference", type=Path, default=None, help="the clean recording: print SNR and spectral convergence"
    )
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt file")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--overlap", type=float, default=0.5, help="share of a window the next one repeats, in [0, 1)")
    p.add_argument("--batch-size", type=int, default=16, help="windows repaired at once (bounds memory)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.set_defaults(func=_restore)


def _restore(args: argparse.Namespace) -> None:
    from .errors import ConfigError

    if not 0 <= args.overlap < 1 or args.batch_size < 1:
        raise ConfigError(f"--overlap must be in [0, 1) and --batch-size >= 1; got {args.overlap}, {args.batch_size}")
    from .restore import restore_file  # checks every argument, then loads the run

    result = restore_file(
        args.run,
        args.file,
        args.out,
        reference=args.reference,
        checkpoint=args.checkpoint,
        device=args.device,
        overlap=args.overlap,
        batch_size=args.batch_size,
    )
    if args.json:
        print(json.dumps(result))
        return
    print(f"wrote {result['out']} ({result['seconds']:.1f} s at {result['sr']} Hz)")
    if args.reference is not None:
        gain = result["snr_after_db"] - result["snr_before_db"]
        print(
            f"SNR {result['snr_before_db']:.2f} dB -> {result['snr_after_db']:.2f} dB ({gain:+.2f} dB); "
            f"spectral convergence {result['spectral_convergence_before']:.4f} -> "
            f"{result['spectral_convergence_after']:.4f}"
        )
