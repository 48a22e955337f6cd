"""Command line: each subcommand is a thin call into a documented library function."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .errors import TunesmithError


def _demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    result = run_demo(args.out, num=args.num, length=args.length, minutes=args.minutes, seed=args.seed)
    t = result.training
    print(
        f"\ntrained {t.epochs} epochs ({t.stopped}) in {t.seconds:.0f} s; best validation NLL "
        f"{t.best_valid_nll:.3f} nats/frame at epoch {t.best_epoch}"
    )
    print(f"run:            {result.run_dir}  (checkpoints, metrics.csv, TensorBoard logs in tb/)")
    print(f"loss curve:     {result.run_dir / 'loss.png'}")
    for files in result.pieces:
        print("generated:      " + "  ".join(str(p) for p in files.values()))
    print(f"demo finished in {result.seconds:.0f} s")


def _train(args: argparse.Namespace) -> None:
    from .config import load_config
    from .training import train

    config = load_config(args.config, args.set)
    result = train(config, args.out, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if result.members:
        trained = f"trained {result.members} members, up to {result.epochs} epochs each ({result.stopped}); "
        print(f"{trained}ensemble validation NLL {result.best_valid_nll:.4f}; run in {result.run_dir}")
    else:
        print(
            f"trained {result.epochs} epochs ({result.stopped}); best validation NLL "
            f"{result.best_valid_nll:.4f} at epoch {result.best_epoch}; run in {result.run_dir}"
        )


def _generate(args: argparse.Namespace) -> None:
    from .run import generate, load_run, write_pieces

    run = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    pieces = generate(
        run,
        num=args.num,
        length=args.length,
        temperature=args.temperature,
        top_p=args.top_p,
        primer=args.primer,
        seed=args.seed,
        program=args.program,
        progress=True,
    )
    settings = {
        "run": str(args.run_dir),
        "checkpoint": args.checkpoint,
        "epoch": run.info.get("epoch"),
        "num": args.num,
        "length": args.length,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "primer": str(args.primer) if args.primer else None,
        "seed": args.seed,
        "program": args.program,
    }
    written = write_pieces(
        pieces,
        args.out,
        run.representation,
        audio=not args.no_audio,
        soundfont=args.soundfont,
        settings=settings,
        overwrite=args.overwrite,
    )
    for files in written:
        print("  ".join(str(p) for p in files.values()))


def _render(args: argparse.Namespace) -> None:
    from .synthesis import render

    print(render(args.midi, args.out, soundfont=args.soundfont, sample_rate=args.sample_rate, backend=args.backend))


def _evaluate(args: argparse.Namespace) -> None:
    import json

    from .evaluation import evaluate_run
    from .run import load_run

    run = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    result = evaluate_run(run, data=args.data, split=args.split, progress=not args.json)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['model']} on {result['data']} ({result['split']}): NLL {result['nll']:.4f} nats/frame "
            f"over {result['frames']} scored frames of {result['sequences']} sequences"
        )


def _models(args: argparse.Namespace) -> None:
    from .models import list_models

    for name, description in list_models().items():
        print(f"{name:10s} {description}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunesmith", description="Train neural networks on music and generate new music."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="train on the Bach chorales shipped with music21 and generate new ones")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder (default: demo-out)")
    p.add_argument("--num", type=int, default=4, help="pieces to generate")
    p.add_argument("--length", type=int, default=128, help="frames per generated piece (eighth notes)")
    p.add_argument("--minutes", type=float, default=None, help="training time budget (default: the demo config's)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo)

    p = sub.add_parser("train", help="train a model from a YAML/TOML config")
    p.add_argument("config", type=Path, help="experiment config (.yaml, .yml or .toml)")
    p.add_argument("--out", type=Path, required=True, help="run directory to write")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. train.lr=3e-4"
    )
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)

    p = sub.add_parser("generate", help="generate new pieces with a trained run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--num", type=int, default=4)
    p.add_argument("--length", type=int, default=256, help="new frames per piece (any length)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0, help="keep the keys carrying this share of the expected notes")
    p.add_argument("--primer", type=Path, default=None, help="a music file to continue")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--program", type=int, default=0, help="General MIDI program of the output (0: piano)")
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt file")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--soundfont", type=Path, default=None)
    p.add_argument("--no-audio", action="store_true", help="write MIDI and plots only")
    p.add_argument("--overwrite", action="store_true", help="replace pieces of the same name in --out")
    p.set_defaults(func=_generate)

    p = sub.add_parser("render", help="render a MIDI file to WAV with a SoundFont")
    p.add_argument("midi", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--soundfont",
        type=Path,
        default=None,
        help="a .sf2/.sf3 file (default: FluidSynth's system GM font, else TimGM6mb)",
    )
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--backend", choices=("auto", "fluidsynth", "symusic"), default="auto")
    p.set_defaults(func=_render)

    p = sub.add_parser("evaluate", help="score a trained run: frame NLL in nats on one split of a dataset")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--data", default=None, help="corpus, folder or .mat/.pickle benchmark (default: the run's)")
    p.add_argument("--split", choices=("train", "valid", "test"), default="test")
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt file")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("models", help="list the registered model families")
    p.set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    level = logging.DEBUG if args.verbose else logging.INFO if rank == 0 else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s" if rank == 0 else f"[rank {rank}] %(message)s")
    for noisy in ("matplotlib", "PIL", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        args.func(args)
    except TunesmithError as exc:
        print(f"tunesmith: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = "; continue with --resume (from the last finished epoch)" if args.command == "train" else ""
        print(f"tunesmith: interrupted{hint}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
