"""Does the judge tell apart what it claims to? Calibration of ``compare`` on real data.

    nice python benchmarks/judge_calibration.py --json [--demo DIR] [--limit N] [--boot 30]

Symbolic: the Bach chorales of music21, split into two random halves A and B. A is compared
with B (real vs real: should be close, two-sample accuracy near 0.5), with B's pieces whose
pitches are permuted within each piece (shuffled notes), and with random notes (B's onsets
and durations with uniform random pitches, and fully random pieces). With ``--demo DIR`` A is
also compared with the generated MIDI files in DIR. Memorization of B against A is reported
too (Bach reharmonized some melodies several times, so it is not zero).

Audio: the recordings in ``../shared/data/audio`` cut into segments; two random halves of
the segments (real vs real), vs white noise of the same loudness, vs segments whose short
blocks (46 ms) are shuffled in time.

Prints one JSON object: for each comparison the two-sample accuracy with its interval, the
mean MGEval overlap, the Fréchet distance with its interval, the per-statistic overlaps and
how many statistics the judge calls close.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from pathlib import Path

import numpy as np

from tunesmith.judge import compare_items
from tunesmith.music import Note, Piece, Track

AUDIO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "audio"
SEGMENT_SECONDS = 3.0
BLOCK = 1024


def shuffled_pitches(piece: Piece, rng: np.random.Generator) -> Piece:
    """``piece`` with the pitches of all its notes permuted among its notes."""
    out = copy.deepcopy(piece)
    notes = [n for t in out.tracks for n in t.notes]
    for note, pitch in zip(notes, rng.permutation([n.pitch for n in notes])):
        note.pitch = int(pitch)
    return out


def random_pitches(piece: Piece, rng: np.random.Generator) -> Piece:
    """``piece``'s rhythm with every pitch drawn uniformly from 36..84."""
    out = copy.deepcopy(piece)
    for track in out.tracks:
        for note in track.notes:
            note.pitch = int(rng.integers(36, 85))
    return out


def random_piece(piece: Piece, rng: np.random.Generator) -> Piece:
    """As many notes as ``piece``, at random sixteenth onsets within its length, with random
    durations (a sixteenth to a half note) and uniform pitches 36..84, in one track."""
    n = sum(len(t.notes) for t in piece.tracks)
    steps = max(int(piece.end * 4), 1)
    notes = [
        Note(float(rng.integers(0, steps)) / 4, int(rng.integers(36, 85)), float(rng.choice([0.25, 0.5, 1.0, 2.0])))
        for _ in range(n)
    ]
    return Piece([Track(sorted(notes, key=lambda x: x.time))], name=f"random-{piece.name}")


def summary(result: dict, seconds: float) -> dict:
    """The numbers a reader checks, rounded."""
    acc, fd = result["two_sample_accuracy"], result["frechet_distance"]
    stats = result["statistics"]
    out = {
        "real_count": result["real_count"],
        "generated_count": result["generated_count"],
        "two_sample_accuracy": round(acc["accuracy"], 3),
        "two_sample_ci": [round(x, 3) for x in acc["ci"]],
        "mean_overlap": round(result["mean_overlap"], 3),
        "frechet_distance": round(fd["value"], 2),
        "frechet_ci": [round(x, 2) for x in fd["ci"]],
        "close_statistics": sum(s["verdict"] == "close" for s in stats.values()),
        "statistics": len(stats),
        "overlap": {k: round(s["overlap"], 3) for k, s in stats.items() if "overlap" in s},
        "seconds": round(seconds, 1),
    }
    if "memorization" in result:
        m = result["memorization"]
        out["memorization"] = {k: m[k] for k in ("max_notes", "mean_notes", "max_beats", "copied_rate", "min_notes")}
    return out


def timed(fn, *args, **kwargs) -> dict:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return summary(result, time.perf_counter() - start)


def symbolic(args: argparse.Namespace) -> dict:
    from tunesmith.io import read_corpus, read_folder

    start = time.perf_counter()
    pieces = read_corpus("bach-chorales", workers=2, limit=args.limit)
    read_seconds = time.perf_counter() - start
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(pieces))
    half = len(pieces) // 2
    a, b = [pieces[i] for i in order[:half]], [pieces[i] for i in order[half:]]
    opts = {"kind": "symbolic", "seed": args.seed, "n_boot": args.boot}
    out = {"pieces": len(pieces), "read_seconds": round(read_seconds, 1)}
    out["real_vs_real"] = timed(compare_items, a, b, train=a, **opts)
    out["real_vs_shuffled_notes"] = timed(compare_items, a, [shuffled_pitches(p, rng) for p in b], train=a, **opts)
    out["real_vs_random_pitches"] = timed(compare_items, a, [random_pitches(p, rng) for p in b], **opts)
    out["real_vs_random_notes"] = timed(compare_items, a, [random_piece(p, rng) for p in b], **opts)
    if args.demo:
        demo, failures = read_folder(args.demo)
        out["real_vs_demo"] = timed(compare_items, pieces, demo, train=pieces, **opts)
        out["real_vs_demo"]["skipped"] = len(failures)
    return out


def segments(folder: Path, sr: int) -> list:
    """Every non-silent ``SEGMENT_SECONDS`` segment of every recording under ``folder``."""
    from tunesmith.audio import Clip, find_audio_files, is_silent, read_audio

    size = int(SEGMENT_SECONDS * sr)
    pieces = []
    for path in find_audio_files(folder):
        clip = read_audio(path, sr=sr)
        for i in range(clip.samples.size // size):
            chunk = clip.samples[i * size : (i + 1) * size]
            if not is_silent(chunk, threshold_db=-40.0):
                pieces.append(Clip(chunk, sr, f"{clip.name}-{i}", clip.source))
    return pieces


def noise_like(clip, rng: np.random.Generator):
    """White noise with the RMS level of ``clip``."""
    from tunesmith.audio import Clip

    level = float(np.sqrt(np.mean(clip.samples.astype(np.float64) ** 2)))
    return Clip((rng.standard_normal(clip.samples.size) * level).astype(np.float32), clip.sr, clip.name, "noise")


def block_shuffled(clip, rng: np.random.Generator):
    """``clip`` with its blocks of ``BLOCK`` samples in random order."""
    from tunesmith.audio import Clip

    n = clip.samples.size // BLOCK
    blocks = clip.samples[: n * BLOCK].reshape(n, BLOCK)[rng.permutation(n)]
    return Clip(blocks.ravel().copy(), clip.sr, clip.name, "shuffled")


def audio(args: argparse.Namespace) -> dict:
    clips = segments(Path(args.audio), 22050)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(clips))
    half = len(clips) // 2
    a, b = [clips[i] for i in order[:half]], [clips[i] for i in order[half:]]
    opts = {"kind": "audio", "seed": args.seed, "n_boot": args.boot}
    return {
        "segments": len(clips),
        "segment_seconds": SEGMENT_SECONDS,
        "real_vs_real": timed(compare_items, a, b, **opts),
        "real_vs_noise": timed(compare_items, a, [noise_like(c, rng) for c in b], **opts),
        "real_vs_shuffled_blocks": timed(compare_items, a, [block_shuffled(c, rng) for c in b], **opts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (the only output format)")
    parser.add_argument("--demo", type=Path, default=None, help="a folder of generated MIDI to judge too")
    parser.add_argument("--limit", type=int, default=None, help="read only the first N chorales")
    parser.add_argument("--boot", type=int, default=30, help="bootstrap resamplings per interval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--audio", type=Path, default=AUDIO_DIR, help="folder of recordings")
    parser.add_argument("--skip", choices=("symbolic", "audio"), default=None, help="leave one half out")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = {}
    if args.skip != "symbolic":
        out["symbolic"] = symbolic(args)
    if args.skip != "audio" and args.audio.is_dir():
        out["audio"] = audio(args)
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
