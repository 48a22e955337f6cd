"""The ``interpolate`` subcommand: a thin call into :func:`tunesmith.latent.interpolate_files`.

``cli.py`` calls :func:`register` with its subparsers object.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(subparsers, fmt: type[argparse.HelpFormatter] = argparse.ArgumentDefaultsHelpFormatter) -> None:
    """Add ``interpolate RUN_DIR A B --steps N --out DIR`` to ``subparsers`` (from
    ``add_subparsers``), with help formatter ``fmt``."""
    p = subparsers.add_parser(
        "interpolate",
        help="walk an autoencoder's latent space from one piece to another (slerp) and write each step",
        description=(
            "Encode the first phrase of A and of B with an autoencoder run (lstm-vae, lstm-ae, conv-vae, conv-ae), "
            "decode STEPS points of the spherical path between their latent vectors (both ends included) and "
            "write them as interp-00 ... to --out: MIDI, WAV and a piano roll for note runs; WAV and a "
            "spectrogram for audio runs."
        ),
        formatter_class=fmt,
    )
    p.add_argument("run_dir", type=Path, help="run directory of an autoencoder trained by 'tunesmith train'")
    p.add_argument("a", type=Path, help="the first end: a music file (MIDI, MusicXML, ABC) or an audio file")
    p.add_argument("b", type=Path, help="the other end, of the same kind")
    p.add_argument("--steps", type=int, default=5, help="points on the path, both ends included (at least 2)")
    p.add_argument("--out", type=Path, required=True, help="folder for the decoded points")
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt file")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    p.add_argument("--no-audio", action="store_true", help="note runs: write MIDI and PNG only, no WAV")
    p.add_argument("--soundfont", type=Path, default=None, help="SoundFont for the WAV of note runs")
    p.add_argument("--overwrite", action="store_true", help="replace earlier interp-NN files in --out")
    p.set_defaults(func=_interpolate)


def _interpolate(args: argparse.Namespace) -> None:
    from .latent import check_inputs, interpolate_files
    from .training.distributed import resolve_device

    check_inputs(args.a, args.b, steps=args.steps, out=args.out)
    if args.soundfont is not None and not args.no_audio:
        from .synthesis import check_soundfont

        check_soundfont(args.soundfont)
    resolve_device(args.device, what="--device")
    written = interpolate_files(
        args.run_dir,
        args.a,
        args.b,
        steps=args.steps,
        out=args.out,
        checkpoint=args.checkpoint,
        device=args.device,
        audio=not args.no_audio,
        soundfont=args.soundfont,
        overwrite=args.overwrite,
    )
    for files in written:
        print("  ".join(str(p) for p in files.values()))
