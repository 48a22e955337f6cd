"""Command line: each subcommand is a thin call into a documented library function.

Every argument is checked before any expensive work (loading a run, preparing data, sampling).
A mistake ends in one line ``tunesmith: error: ...`` and exit status 2; an unexpected error in
one line naming the file that holds its traceback (``--debug`` prints the traceback instead).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

from . import __version__
from .errors import TunesmithError
from .io.benchmark import SPLITS

USER_ERROR = 2
INTERNAL_ERROR = 1


def _demo(args: argparse.Namespace) -> None:
    from .utils import check_output_dir

    check_output_dir(args.out)
    from .demo import run_demo  # imported after the checks: it loads PyTorch

    result = run_demo(
        args.out,
        num=args.num,
        length=args.length,
        minutes=args.minutes,
        max_pieces=args.max_pieces,
        seed=args.seed,
        audio=args.audio,
    )
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
    from .utils import check_output_dir

    config = load_config(args.config, args.set)
    check_output_dir(args.out)
    from .training import train  # imported after the checks: it loads PyTorch

    result = train(config, args.out, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if result.members:
        trained = f"trained {result.members} members, up to {result.epochs} epochs each ({result.stopped}); "
        print(f"{trained}ensemble validation NLL {result.best_valid_nll:.4f}; run in {result.run_dir}")
    else:
        metric = "NLL" if result.best_metric == "nll" else result.best_metric
        print(
            f"trained {result.epochs} epochs ({result.stopped}); best validation {metric} "
            f"{result.best_value:.4f} at epoch {result.best_epoch}; run in {result.run_dir}"
        )


def _generate(args: argparse.Namespace) -> None:
    from .io import check_file
    from .synthesis import check_soundfont
    from .utils import check_output_dir

    check_output_dir(args.out)
    if args.soundfont is not None and not args.no_audio:
        check_soundfont(args.soundfont)
    if args.primer is not None:
        check_file(args.primer)
    from .training.distributed import resolve_device

    resolve_device(args.device, what="--device")
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
    from .synthesis import check_soundfont, render
    from .utils import check_output_dir

    if args.out.is_dir():
        raise TunesmithError(f"--out {args.out} is a folder; give the path of the .wav file to write")
    check_output_dir(args.out.parent, what="the folder of --out")
    if args.soundfont is not None:
        check_soundfont(args.soundfont)
    print(render(args.midi, args.out, soundfont=args.soundfont, sample_rate=args.sample_rate, backend=args.backend))


def _evaluate(args: argparse.Namespace) -> None:
    import json

    from .evaluation import evaluate_run
    from .run import load_run
    from .training.distributed import resolve_device

    resolve_device(args.device, what="--device")
    run = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    result = evaluate_run(run, data=args.data, split=args.split, progress=not args.json)
    if args.json:
        print(json.dumps(result))
    elif "metrics" in result:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items())
        print(f"{result['model']} on {result['data']} ({result['split']}, {result['sequences']} sequences): {shown}")
    else:
        print(
            f"{result['model']} on {result['data']} ({result['split']}): NLL {result['nll']:.4f} nats/frame "
            f"over {result['frames']} scored frames of {result['sequences']} sequences"
        )


def _models(args: argparse.Namespace) -> None:
    from .models import HEADS, list_models
    from .representation import list_representations

    for name, description in list_models().items():
        print(f"{name:10s} {description}")
    print("\nrepresentations (representation.name):")
    for name, description in list_representations().items():
        print(f"  {name:10s} {description}")
    print(f"\noutput heads (model.head): auto, {', '.join(HEADS)}")


# ---------------------------------------------------------------- argument types


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def share(text: str) -> float:
    """A number in (0, 1]."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {text!r}")
    return value


def midi_program(text: str) -> int:
    """A General MIDI program number, 0..127."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a General MIDI program 0..127, got {text!r}") from None
    if not 0 <= value <= 127:
        raise argparse.ArgumentTypeError(f"must be a General MIDI program 0..127, got {value}")
    return value


def sample_rate(text: str) -> int:
    """A sample rate in Hz, 8000..192000."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of Hz, got {text!r}") from None
    if not 8000 <= value <= 192000:
        raise argparse.ArgumentTypeError(f"must be from 8000 to 192000 Hz, got {value}")
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, except for required options, which have none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.required else super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``tunesmith: error: ...``, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(USER_ERROR, f"tunesmith: error: {message} (see: {self.prog} --help)\n")


# ---------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The ``tunesmith`` argument parser: every option has help text and shows its default."""
    fmt = _HelpFormatter
    parser = _Parser(
        prog="tunesmith", description="Train neural networks on music and generate new music.", formatter_class=fmt
    )
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    _add_global_options(parser, default=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, default=argparse.SUPPRESS)  # also after the command; keeps the top-level value
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=fmt, parents=[common])

    p = command("demo", "train on the Bach chorales shipped with music21 and generate new ones")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder")
    p.add_argument(
        "--audio",
        action="store_true",
        help="learn from the chorales rendered to sound (log-mel frames) instead of notes",
    )
    p.add_argument("--num", type=positive_int, default=4, help="pieces to generate")
    p.add_argument(
        "--length", type=positive_int, default=None, help="frames per piece (None: 128 eighth notes, or 6 s of audio)"
    )
    p.add_argument(
        "--minutes", type=positive_float, default=None, help="training time budget (None: the demo config's)"
    )
    p.add_argument(
        "--max-pieces", type=positive_int, default=None, help="use only this many chorales (None: the demo config's)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the sampling")
    p.set_defaults(func=_demo)

    p = command("train", "train a model from a YAML/TOML config")
    p.add_argument("config", type=Path, help="experiment config (.yaml, .yml or .toml)")
    p.add_argument("--out", type=Path, required=True, help="run directory to write")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. train.lr=3e-4"
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)

    p = command("generate", "generate new pieces with a trained run")
    p.add_argument("run_dir", type=Path, help="run directory written by 'tunesmith train'")
    p.add_argument("--out", type=Path, required=True, help="folder for the pieces (MIDI, WAV, PNG)")
    p.add_argument("--num", type=positive_int, default=4, help="pieces to generate")
    p.add_argument(
        "--length", type=positive_int, default=256, help="new frames per piece (up to 262,144 frames, primer included)"
    )
    p.add_argument("--temperature", type=positive_float, default=1.0, help="above 1: bolder, below 1: safer")
    p.add_argument(
        "--top-p", type=share, default=1.0, help="keep the keys carrying this share of the expected notes, in (0, 1]"
    )
    p.add_argument(
        "--primer", type=Path, default=None, help="a music file (note runs) or recording (audio runs) to continue"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (None: a different result each time)")
    p.add_argument("--program", type=midi_program, default=0, help="General MIDI program of the output (0: piano)")
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt file")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--soundfont", type=Path, default=None, help="a .sf2/.sf3 file for the audio (None: as 'tunesmith render')"
    )
    p.add_argument("--no-audio", action="store_true", help="write MIDI and plots only")
    p.add_argument("--overwrite", action="store_true", help="replace pieces of the same name in --out")
    p.set_defaults(func=_generate)

    p = command("render", "render a MIDI file to WAV with a SoundFont")
    p.add_argument("midi", type=Path, help="the MIDI file to render")
    p.add_argument("--out", type=Path, required=True, help="the WAV file to write")
    p.add_argument(
        "--soundfont",
        type=Path,
        default=None,
        help="a .sf2/.sf3 file (None: FluidSynth's system GM font, else TimGM6mb)",
    )
    p.add_argument("--sample-rate", type=sample_rate, default=44100, help="samples per second, 8000..192000")
    p.add_argument(
        "--backend", choices=("auto", "fluidsynth", "symusic"), default="auto", help="the synthesizer to use"
    )
    p.set_defaults(func=_render)

    p = command("evaluate", "score a trained run: frame NLL in nats on one split of a dataset")
    p.add_argument("run_dir", type=Path, help="run directory written by 'tunesmith train'")
    p.add_argument("--data", default=None, help="corpus, folder or .mat/.pickle benchmark (None: the run's)")
    p.add_argument("--split", choices=SPLITS, default="test", help="the split to score")
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt file")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_evaluate)

    p = command("models", "list the registered model families, representations and output heads")
    p.set_defaults(func=_models)

    # ---- Subcommands defined in other modules register here: each `register(sub, fmt)` adds its
    # ---- parsers to `sub` (the lead adds the functions to this tuple).
    from .audio.commands import register as audio_commands
    from .judge.commands import register as compare_command
    from .judge.web_commands import register as web_commands
    from .latent_commands import register as latent_commands
    from .restore_commands import register as restore_commands
    from .similarity_commands import register as similarity_commands

    for register in (
        audio_commands,
        compare_command,
        web_commands,
        similarity_commands,
        latent_commands,
        restore_commands,
    ):
        register(sub, fmt)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")
    parser.add_argument("--debug", action="store_true", default=default, help="print the full traceback of any error")


# ---------------------------------------------------------------- running a command


def main(argv: list[str] | None = None) -> int:
    """Run ``tunesmith`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    0: done; 2: a mistake in the arguments, config or input (one line on stderr); 1: an
    unexpected error (one line naming the file that holds the traceback); 130: interrupted.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line argument error
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else USER_ERROR)
    _configure_logging(args.verbose)
    try:
        args.func(args)
    except TunesmithError as exc:
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"tunesmith: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        hint = "; continue with --resume (from the last finished epoch)" if args.command == "train" else ""
        print(f"tunesmith: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line here, the traceback in a file (or on screen with --debug)
        print(_internal_error(exc, debug=args.debug), file=sys.stderr)
        return INTERNAL_ERROR
    return 0


def _configure_logging(verbose: bool) -> None:
    rank = int(os.environ.get("RANK", "0"))
    level = logging.DEBUG if verbose else logging.INFO if rank == 0 else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s" if rank == 0 else f"[rank {rank}] %(message)s")
    for noisy in ("matplotlib", "PIL", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _internal_error(exc: Exception, *, debug: bool) -> str:
    """The one line that reports an unexpected error; its traceback goes to a file or, with
    ``debug``, to stderr."""
    import tempfile
    import traceback

    from .utils import one_line

    line = f"tunesmith: internal error: {type(exc).__name__}: {one_line(str(exc))}"
    if debug:
        traceback.print_exc()
        return line
    try:
        fd, trace = tempfile.mkstemp(prefix="tunesmith-traceback-", suffix=".txt")
        with os.fdopen(fd, "w") as handle:
            handle.write(f"tunesmith {__version__}, argv {sys.argv!r}\n{traceback.format_exc()}")
    except OSError as write_error:
        return f"{line} (could not save the traceback: {write_error.strerror}; rerun with --debug to see it)"
    return f"{line} (full traceback in {trace}; rerun with --debug to see it)"


if __name__ == "__main__":
    sys.exit(main())
