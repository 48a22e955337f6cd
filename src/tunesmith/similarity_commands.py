"""The ``index`` and ``similar`` subcommands: thin calls into :mod:`tunesmith.similarity`.

``cli.py`` calls :func:`register` with its subparsers object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["index_folder", "query_index", "register"]


def index_folder(
    folder: str | Path,
    run_dir: str | Path,
    out: str | Path,
    *,
    checkpoint: str = "best",
    device: str = "auto",
    pooling: str = "trajectory",
    workers: int = 1,
    progress: bool = False,
):
    """Embed every file under ``folder`` with the run in ``run_dir`` and write the index to
    ``out`` (``.npz``); return the :class:`~tunesmith.similarity.Index`.

    Raises:
        ConfigError: ``out`` not ending in ``.npz``, an unknown ``pooling`` or ``device``.
        CheckpointError: ``run_dir`` holds no usable run.
        DataError: ``folder`` is missing or holds no usable file.
    """
    from .errors import ConfigError
    from .models.base import POOLINGS
    from .run import load_run
    from .similarity import build_index, find_files, save_index

    if Path(out).suffix.lower() != ".npz":
        raise ConfigError(f"--out must be a .npz file, got {out}")
    if pooling not in POOLINGS:
        raise ConfigError(f"unknown --pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    run = load_run(run_dir, checkpoint=checkpoint, device=device)
    find_files(folder, run.representation)  # a missing or empty folder fails before any work
    index = build_index(folder, run, pooling=pooling, workers=workers, checkpoint=checkpoint, progress=progress)
    save_index(index, out)
    return index


def query_index(
    query: str | Path,
    index_path: str | Path,
    *,
    k: int = 5,
    run_dir: str | Path | None = None,
    checkpoint: str | None = None,
    device: str = "auto",
    scoring: str = "centered",
    transpositions: int = 0,
):
    """The ``k`` items of the index at ``index_path`` nearest to the file ``query``, embedded
    with ``run_dir`` (default: the run the index names); a list of
    :class:`~tunesmith.similarity.Hit`.

    Raises:
        ConfigError: ``k`` below 1; a run whose representation or weights differ from the index's.
        DataError: a missing or corrupt index; a missing, unreadable or wrong kind of query file.
        CheckpointError: the run cannot be loaded.
    """
    from .errors import ConfigError
    from .run import load_run
    from .similarity import load_index, similar

    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    index = load_index(index_path)
    run = load_run(
        run_dir or index.run["path"], checkpoint=checkpoint or index.run.get("checkpoint", "best"), device=device
    )
    return similar(query, index, run, k=k, scoring=scoring, index_path=index_path, transpositions=transpositions)


def register(subparsers, fmt: type[argparse.HelpFormatter] = argparse.ArgumentDefaultsHelpFormatter) -> None:
    """Add the ``index`` and ``similar`` subcommands to ``subparsers`` (from ``add_subparsers``),
    with help formatter ``fmt``."""
    from .models.base import POOLINGS
    from .similarity import SCORINGS

    p = subparsers.add_parser(
        "index",
        help="embed a folder of music or recordings with a trained run and store a similarity index",
        formatter_class=fmt,
    )
    p.add_argument("folder", type=Path, help="folder of music files (note runs) or recordings (audio runs), recursive")
    p.add_argument("--run", type=Path, required=True, help="run directory written by 'tunesmith train'")
    p.add_argument("--out", type=Path, required=True, help="the index file to write (.npz)")
    p.add_argument("--pooling", default="trajectory", metavar="|".join(POOLINGS), help="how hidden features are pooled")
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt file")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N or mps")
    p.add_argument("--workers", type=int, default=1, help="processes reading files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_index)

    p = subparsers.add_parser(
        "similar", help="list the pieces of an index nearest to a music file or recording", formatter_class=fmt
    )
    p.add_argument("query", type=Path, help="a music file or recording of the kind the index holds")
    p.add_argument("--index", type=Path, required=True, help="an index written by 'tunesmith index'")
    p.add_argument("--k", type=int, default=5, help="how many nearest pieces to list")
    p.add_argument("--run", type=Path, default=None, help="run directory (None: the run the index was built with)")
    p.add_argument("--checkpoint", default=None, help="best, last, or a .pt file (None: the index's)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--scoring", default="centered", metavar="|".join(SCORINGS), help="cosine of raw or of centered vectors"
    )
    p.add_argument(
        "--transpositions",
        type=int,
        default=0,
        help="note runs: also search with the query moved up and down by 1..N semitones (6: any key)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(func=_similar)


def _index(args: argparse.Namespace) -> None:
    index = index_folder(
        args.folder,
        args.run,
        args.out,
        checkpoint=args.checkpoint,
        device=args.device,
        pooling=args.pooling,
        workers=args.workers,
        progress=not args.quiet,
    )
    for path, reason in index.skipped:
        print(f"skipped {path}: {reason}")
    print(f"indexed {len(index)} files ({len(index.skipped)} skipped) into {args.out}")


def _similar(args: argparse.Namespace) -> None:
    hits = query_index(
        args.query,
        args.index,
        k=args.k,
        run_dir=args.run,
        checkpoint=args.checkpoint,
        device=args.device,
        scoring=args.scoring,
        transpositions=args.transpositions,
    )
    if args.json:
        print(json.dumps([{"rank": h.rank, "score": round(h.score, 6), "path": h.path, "name": h.name} for h in hits]))
        return
    for hit in hits:
        print(f"{hit.rank:>3}  {hit.score:+.4f}  {hit.path}")
