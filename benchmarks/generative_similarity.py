"""Similarity search on the Bach chorales: is a held-out chorale, transposed or played on another
instrument, still nearest to its own source?

    python benchmarks/generative_similarity.py [--quick] [--minutes M]

(a) notes: the demo LSTM (``configs/demo.yaml``) trained for a few minutes on ``bach-chorales``,
once as shipped (no key normalization: invariance must come from the model) and once with
``representation.normalize_key=true`` (every piece, index and query alike, is moved to C before
the model reads it). The index holds every chorale of the corpus written as MIDI; the queries
are the test split's chorales transposed by +2, -3 and +5 semitones.

(b) audio: an LSTM with a Gaussian head trained on ``bach-chorales-audio`` (log-mel frames of
the chorales rendered with the project's SoundFont, the prepared cache's default settings). The
index holds the rendered chorales (WAV); the queries are the test split's chorales rendered
again with other General MIDI instruments (church organ and flute instead of the piano).

Each embedding choice (pooling of the hidden features: ``trajectory``, ``mean``, ``mean_std``,
``mean_max``, ``last``; cosine of raw or of centered vectors) is scored, on the same read frames
and through the same ``embed_sequences`` and ``search`` that ``tunesmith index`` / ``similar``
use. For the note run without key normalization the queries are also searched in every key
(``similar --transpositions 6``). Non-learned baselines (the mean piano-roll frame, the mean and
spread of each mel band, and the ``trajectory`` pooling applied to the frames themselves) are
scored the same way. A query is a hit when its source (or an identical copy of it in the corpus)
is the top result. Prints a JSON list of rows ``{"model", "representation", "pooling",
"transpositions", "scoring", "train_seconds", "pieces", "queries", "top1", "top5"}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

SHIFTS = (2, -3, 5)
QUERY_PROGRAMS = (19, 73)  # General MIDI church organ and flute
POOLINGS = ("trajectory", "mean", "mean_std", "mean_max", "last")
SCORINGS = ("cosine", "centered")


def _train(overrides: list[str], out: Path, config: Path | None = None) -> float:
    """Train a run into ``out``; return the seconds it took."""
    from tunesmith.config import load_config
    from tunesmith.training import train

    start = time.time()
    train(load_config(config, overrides), out, progress=False)
    return time.time() - start


def _score(hits: list, sources: list[str], same: dict[str, set[str]]) -> dict:
    """Share of the queries whose source (or a copy of it) is the top hit, or among the top 5."""
    top1 = [row[0].name in same[src] for row, src in zip(hits, sources)]
    top5 = [any(h.name in same[src] for h in row) for row, src in zip(hits, sources)]
    return {"queries": len(sources), "top1": round(float(np.mean(top1)), 4), "top5": round(float(np.mean(top5)), 4)}


def _read(folder: Path, rep, shifts=(0,)) -> tuple[list[Path], list[np.ndarray]]:
    """The files under ``folder`` and their frames, each read at every one of ``shifts``."""
    from tunesmith.similarity import find_files, read_frames

    files = find_files(folder, rep)
    return files, [read_frames(p, rep, shift=shift) for p in files for shift in shifts]


def _scored(index_set, query_set, vectors, queries, same, group: int = 1) -> list[dict]:
    """Rows for both scorings of one embedding of the index and the queries."""
    from tunesmith.similarity import Index, search

    items = [{"path": str(p), "name": p.stem, "frames": len(f)} for p, f in zip(*index_set)]
    index = Index(np.asarray(vectors, np.float32), items, {}, {})
    sources = names_to([p.stem for p in query_set[0]])
    rows = []
    for scoring in SCORINGS:
        hits = search(index, queries, k=5, scoring=scoring, group=group)
        rows.append({"scoring": scoring, "pieces": len(index), **_score(hits, sources, same)})
    return rows


def _choices(run, index_set, query_set, same, poolings, group: int = 1) -> list[dict]:
    """Score each pooling (``embed_sequences``, as ``tunesmith index`` and ``similar`` embed) and
    scoring; ``group`` frames per query (its transpositions: an item scores the best of them)."""
    from tunesmith.similarity import embed_sequences

    rows = []
    for pooling in poolings:
        vectors = embed_sequences(run, index_set[1], pooling=pooling)
        queries = embed_sequences(run, query_set[1], pooling=pooling)
        for row in _scored(index_set, query_set, vectors, queries, same, group):
            rows.append({"pooling": pooling, "transpositions": (group - 1) // 2, **row})
    return rows


def names_to(query_names: list[str]) -> list[str]:
    """The source chorale of each query file name (``NAME__tSHIFT`` or ``NAME__pPROGRAM``)."""
    return [name.split("__")[0] for name in query_names]


def trajectory(frames: np.ndarray, segments: int = 16) -> np.ndarray:
    """The ``trajectory`` pooling applied to frames ``shape=(T, D)`` themselves (no model):
    standardized over the piece, averaged over ``segments`` equal parts, ``shape=(segments * D,)``."""
    z = (frames - frames.mean(0)) / (frames.std(0) + 1e-3)
    return np.concatenate([part.mean(0) if len(part) else np.zeros(z.shape[1]) for part in np.array_split(z, segments)])


def _baselines(index_set, query_set, same, pools: dict) -> list[dict]:
    """Non-learned embeddings ``{name: pool(frames)}``, scored like the model's (best scoring)."""
    rows = []
    for name, (pooling, pool) in pools.items():
        vectors = np.stack([pool(f) for f in index_set[1]])
        queries = np.stack([pool(f) for f in query_set[1]])
        best = max(_scored(index_set, query_set, vectors, queries, same), key=lambda r: r["top1"])
        rows.append({"model": name, "train_seconds": 0.0, "pooling": pooling, "transpositions": 0, **best})
    return rows


_PIECES: list = []


def _chorales() -> list:
    """The music21 chorales, parsed once per process (parsing takes a minute or more)."""
    from tunesmith.io import read_corpus

    if not _PIECES:
        _PIECES.extend(read_corpus("bach-chorales", workers=2))
    return _PIECES


def _copies(names: list[str], keys: list[str]) -> dict[str, set[str]]:
    """For each name, the names whose content key is the same (itself included)."""
    groups: dict[str, set[str]] = {}
    for name, key in zip(names, keys):
        groups.setdefault(key, set()).add(name)
    return {name: groups[key] for name, key in zip(names, keys)}


# -- (a) notes ------------------------------------------------------------------------------------
def notes_rows(work: Path, *, quick: bool, minutes: float) -> list[dict]:
    from tunesmith.data.splits import split_by_melody
    from tunesmith.io import write_midi
    from tunesmith.representation import transpose_piece
    from tunesmith.run import load_run

    demo = Path(__file__).resolve().parent.parent / "src" / "tunesmith" / "configs" / "demo.yaml"
    pieces = _chorales()
    held = split_by_melody(pieces, valid_fraction=0.1, test_fraction=0.1)["test"]
    if quick:
        held = held[:12]
        kept = sorted(set(held) | set(range(100)))
    else:
        kept = list(range(len(pieces)))
    index_dir, query_dir = work / "notes-index", work / "notes-queries"
    for i in kept:
        write_midi(pieces[i], index_dir / f"{pieces[i].name}.mid")
    shifts = SHIFTS[:1] if quick else SHIFTS
    for i in held:
        for shift in shifts:
            write_midi(transpose_piece(pieces[i], shift), query_dir / f"{pieces[i].name}__t{shift:+d}.mid")
    keys = [hashlib.sha1(repr(sorted((n.time, n.pitch) for n in p.notes)).encode()).hexdigest() for p in pieces]
    same = _copies([p.name for p in pieces], keys)
    rows = []
    poolings = ("trajectory", "mean") if quick else POOLINGS
    for keyed in (False, True):
        out = work / f"notes-run-{'keyed' if keyed else 'plain'}"
        overrides = ["train.threads=1", f"train.max_minutes={minutes}", f"representation.normalize_key={keyed}"]
        seconds = _train(overrides, out, demo)
        run = load_run(out)
        rep = run.representation
        model = {
            "model": f"lstm (demo.yaml{', normalize_key' if keyed else ''})",
            "representation": f"pianoroll{' normalize_key' if keyed else ''}",
            "train_seconds": round(seconds, 1),
        }
        index_set, query_set = _read(index_dir, rep), _read(query_dir, rep)
        rows += [{**model, **row} for row in _choices(run, index_set, query_set, same, poolings)]
        if keyed:
            continue
        every_key = range(-6, 7)  # the query searched in every key, as `similar --transpositions 6`
        searched = (query_set[0], _read(query_dir, rep, every_key)[1])
        rows += [{**model, **row} for row in _choices(run, index_set, searched, same, poolings, len(every_key))]
        pools = {
            "mean piano-roll frame (no model)": ("mean", lambda f: f.mean(0)),
            "piano-roll trajectory (no model)": ("trajectory", trajectory),
        }
        rows += [{**row, "representation": "pianoroll"} for row in _baselines(index_set, query_set, same, pools)]
    return rows


# -- (b) audio ------------------------------------------------------------------------------------
AUDIO = [
    "data.source=bach-chorales-audio",
    "representation.name=mel",
    "model.name=lstm",
    "model.hidden_size=256",
    "model.head=gaussian",
    "train.lr=0.003",
    "train.lr_schedule=cosine",
    "train.epochs=30",
    "train.patience=0",
    "train.threads=1",
]


def audio_rows(work: Path, *, quick: bool, minutes: float) -> list[dict]:
    from tunesmith.data.splits import split_by_melody
    from tunesmith.io import write_midi
    from tunesmith.music import Piece, Track
    from tunesmith.run import load_run
    from tunesmith.synthesis import render
    from tunesmith.utils import cache_dir

    out = work / "audio-run"
    seconds = _train([*AUDIO, f"train.max_minutes={minutes}"], out)  # renders the corpus on first use
    run = load_run(out)
    sr = run.representation.sr
    pieces = _chorales()
    held = split_by_melody(pieces, valid_fraction=0.1, test_fraction=0.1)["test"]
    held = held[:12] if quick else held
    rendered = cache_dir() / "audio-corpus" / f"bach-chorales-{sr}"
    kept = sorted(set(held) | set(range(100))) if quick else range(len(pieces))
    index_dir, query_dir = work / "audio-index", work / "audio-queries"
    index_dir.mkdir(parents=True, exist_ok=True)
    for i in kept:
        (index_dir / f"{pieces[i].name}.wav").symlink_to(rendered / f"{pieces[i].name}.wav")
    query_dir.mkdir(parents=True, exist_ok=True)
    for program in QUERY_PROGRAMS[:1] if quick else QUERY_PROGRAMS:
        renders = cache_dir() / "benchmarks" / f"similarity-program{program}-{sr}"  # rendered once
        for i in held:
            piece = pieces[i]
            wav = renders / f"{piece.name}__p{program}.wav"
            if not wav.is_file():
                tracks = [Track(t.notes, program, t.is_drum, t.name) for t in piece.tracks]
                with tempfile.TemporaryDirectory() as tmp:
                    midi = write_midi(Piece(tracks, piece.tempos, piece.name), Path(tmp) / "query.mid")
                    render(midi, wav, sample_rate=sr)
            (query_dir / wav.name).symlink_to(wav)
    keys = [hashlib.sha1(repr(sorted((n.time, n.pitch) for n in p.notes)).encode()).hexdigest() for p in pieces]
    same = _copies([p.name for p in pieces], keys)
    model = {"model": "lstm (gaussian head)", "representation": "mel", "train_seconds": round(seconds, 1)}
    index_set, query_set = _read(index_dir, run.representation), _read(query_dir, run.representation)
    poolings = ("trajectory", "mean") if quick else ("trajectory", "mean", "mean_std")
    rows = [{**model, **row} for row in _choices(run, index_set, query_set, same, poolings)]
    pools = {
        "mel band mean and spread (no model)": ("mean_std", lambda f: np.concatenate([f.mean(0), f.std(0)])),
        "mel trajectory (no model)": ("trajectory", trajectory),
    }
    return rows + [{**row, "representation": "mel"} for row in _baselines(index_set, query_set, same, pools)]


def run(quick: bool = False, *, minutes: float | None = None) -> list[dict]:
    """Score similarity search on notes and audio; ``quick`` trains briefly on fewer queries."""
    minutes = minutes if minutes is not None else (0.3 if quick else 1.0)
    with tempfile.TemporaryDirectory(prefix="tunesmith-similarity-") as tmp:
        return notes_rows(Path(tmp), quick=quick, minutes=minutes) + audio_rows(Path(tmp), quick=quick, minutes=minutes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train briefly, fewer queries")
    parser.add_argument("--minutes", type=float, default=None, help="training budget per run (default 1; quick 0.3)")
    parser.add_argument("--part", choices=("notes", "audio", "both"), default="both", help="which half to run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    m = args.minutes if args.minutes is not None else (0.3 if args.quick else 1.0)
    with tempfile.TemporaryDirectory(prefix="tunesmith-similarity-") as work:
        rows = []
        if args.part in ("notes", "both"):
            rows += notes_rows(Path(work), quick=args.quick, minutes=m)
        if args.part in ("audio", "both"):
            rows += audio_rows(Path(work), quick=args.quick, minutes=m)
    print(json.dumps(rows, indent=1))
