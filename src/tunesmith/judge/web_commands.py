"""The ``listen`` and ``report`` subcommands: thin calls into :mod:`tunesmith.judge.listen` and
:mod:`tunesmith.judge.report`. ``register(subparsers)`` adds them to the ``tunesmith`` parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import ConfigError


def _listen(args: argparse.Namespace) -> None:
    from .listen import format_summary, serve, summarize

    if args.results is not None:
        summary = summarize(args.results)
        print(json.dumps(summary) if args.json else format_summary(summary))
        return
    if args.real is None or args.generated is None:
        raise ConfigError("listen needs two folders, REAL and GENERATED, or --results DB to summarize the answers")
    server = serve(args.real, args.generated, db=args.db, host=args.host, port=args.port, seconds=args.seconds)
    print(f"listening test with {len(server.clips)} clips at {server.url}  (answers in {args.db}; Ctrl-C stops)")
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _report(args: argparse.Namespace) -> None:
    from .report import build_report

    page = build_report(
        args.run_dir,
        out_dir=args.out,
        num=args.num,
        length=args.length,
        seed=args.seed,
        real=args.real,
        soundfont=args.soundfont,
    )
    print(page)


def register(
    subparsers: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter] = argparse.HelpFormatter
) -> None:
    """Add the ``listen`` and ``report`` subcommands to ``tunesmith``'s subparsers, with help
    formatter ``fmt``."""

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, help=help, description=help, formatter_class=fmt)

    p = command("listen", "a blind listening test of real and generated music, served on this machine")
    p.add_argument("real", type=Path, nargs="?", help="folder of real music (audio or MIDI)")
    p.add_argument("generated", type=Path, nargs="?", help="folder of generated music (audio or MIDI)")
    p.add_argument("--port", type=int, default=8000, help="port to serve on (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address: 127.0.0.1, ::1 or localhost")
    p.add_argument("--db", type=Path, default=Path("answers.sqlite"), help="SQLite file of the answers")
    p.add_argument("--seconds", type=float, default=None, help="play only the first SECONDS of each clip")
    p.add_argument("--results", type=Path, default=None, metavar="DB", help="summarize the answers in DB and exit")
    p.add_argument("--json", action="store_true", help="with --results: print one JSON object")
    p.set_defaults(func=_listen)

    p = command("report", "a one-page HTML report of a training run: config, curves, samples, comparison")
    p.add_argument("run_dir", type=Path, help="run directory written by 'tunesmith train'")
    p.add_argument("--out", type=Path, default=None, help="report folder (None: RUN_DIR/report)")
    p.add_argument("--num", type=int, default=4, help="fresh pieces to generate")
    p.add_argument("--length", type=int, default=128, help="frames per fresh piece")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh pieces")
    p.add_argument(
        "--real",
        type=Path,
        default=None,
        help="folder of held-out real music to compare with (None: the run's own test split)",
    )
    p.add_argument("--soundfont", type=Path, default=None, help="a .sf2/.sf3 file to render MIDI with")
    p.set_defaults(func=_report)
