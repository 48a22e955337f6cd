"""The ``tunesmith compare`` subcommand: a thin call into :func:`tunesmith.judge.compare_sets`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tunesmith.errors import TunesmithError


def register(
    subparsers: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter] = argparse.ArgumentDefaultsHelpFormatter
) -> argparse.ArgumentParser:
    """Add ``compare REAL GENERATED --out DIR [--train TRAIN] [--json]`` to ``subparsers``."""
    p = subparsers.add_parser(
        "compare",
        help="judge generated music against real music (statistics, overlap, two-sample test)",
        description=(
            "Compare a folder of generated music with a folder of real music: MIDI/MusicXML/ABC "
            "pieces or WAV/FLAC/OGG/MP3 recordings. Writes compare.json, summary.md and one PNG per "
            "statistic to --out."
        ),
        formatter_class=fmt,
    )
    p.add_argument("real", type=Path, help="folder (searched recursively) or file of real music")
    p.add_argument("generated", type=Path, help="folder (searched recursively) or file of generated music")
    p.add_argument("--out", type=Path, required=True, help="folder to write compare.json, summary.md and plots to")
    p.add_argument("--train", type=Path, default=None, help="training music folder: report passages copied from it")
    p.add_argument(
        "--kind", choices=("auto", "symbolic", "audio"), default="auto", help="what the files hold; auto: by suffix"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and cross-validation")
    p.add_argument("--boot", type=int, default=50, help="bootstrap resamplings per interval")
    p.add_argument("--workers", type=int, default=1, help="processes reading files")
    p.add_argument("--json", action="store_true", default=False, help="print one JSON object instead of a table")
    p.set_defaults(func=run)
    return p


def validate(args: argparse.Namespace) -> None:
    """Check the arguments before any work: paths exist, numbers in range."""
    for name in ("real", "generated", "train"):
        path = getattr(args, name)
        if path is not None and not path.exists():
            raise TunesmithError(f"{name} {path} does not exist; pass a folder of music or audio files")
    if args.out.exists() and not args.out.is_dir():
        raise TunesmithError(f"--out {args.out} is a file; pass a folder")
    if args.boot < 1:
        raise TunesmithError(f"--boot must be at least 1, got {args.boot}")
    if args.workers < 1:
        raise TunesmithError(f"--workers must be at least 1, got {args.workers}")


def run(args: argparse.Namespace) -> None:
    """Run the comparison and print a table, or one JSON object with ``--json``."""
    from tunesmith.judge.compare import compare_sets, headline, summary_table

    validate(args)
    result = compare_sets(
        args.real,
        args.generated,
        out_dir=args.out,
        train=args.train,
        kind=args.kind,
        seed=args.seed,
        n_boot=args.boot,
        workers=args.workers,
        progress=not args.json,
    )
    if args.json:
        print(json.dumps(result, default=float))
        return
    print(f"{result['kind']}: {result['real_count']} real vs {result['generated_count']} generated")
    for line in headline(result):
        print(line)
    print()
    print("\n".join(summary_table(result)))
    if "memorization" in result:
        m = result["memorization"]
        print(f"\nlongest copied melody passage: {m['max_notes']} notes ({m['max_beats']:g} beats)")
    for row in result["skipped"]:
        print(f"skipped {row['path']}: {row['reason']}")
    print(f"\nreport: {args.out / 'summary.md'}")
