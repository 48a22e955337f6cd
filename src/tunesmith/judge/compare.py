"""Judge a set of generated music against a set of real music.

:func:`compare_sets` reads two folders (MIDI/MusicXML/ABC, or audio), describes every item by
the statistics of :mod:`tunesmith.metrics.symbolic` (pieces) or by frame features summarized
over the clip (recordings), and compares the sets with :mod:`tunesmith.metrics.distribution`:
per statistic the MGEval overlap and KL divergence, and over all statistics together the
Fréchet distance and a classifier two-sample test. :func:`compare_items` does the same on
pieces or clips already in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

from tunesmith.errors import DataError, TunesmithError
from tunesmith.metrics.distribution import frechet_distance, mgeval, two_sample_accuracy
from tunesmith.metrics.memorization import memorization
from tunesmith.metrics.symbolic import piece_statistics

logger = logging.getLogger("tunesmith.judge")

KINDS = ("auto", "symbolic", "audio")
CLOSE_OVERLAP = 0.8
"""A statistic is "close" when its MGEval overlap is at least this. Calibrated with
``benchmarks/judge_calibration.py``: two random halves of the Bach chorales (175 each) score
0.85 to 1.0 on every statistic, 3 s segments of real recordings 0.91 to 0.97, while a permuted-
pitch transition matrix scores 0.73 and block-shuffled audio's onset strength 0.71."""
EMBEDDING_EXCLUDES = ("pitch_class_transition_matrix",)
"""Statistics left out of the joint feature vector (144 sparse dimensions swamp the rest)."""

Stats = dict[str, "float | np.ndarray"]


def clip_statistics(samples: np.ndarray, *, sr: int, n_fft: int = 2048, hop_length: int = 512) -> Stats:
    """Summary features of one recording ``shape=(n,)``, by name.

    Scalars: means (and a few standard deviations) over frames of RMS level in dB, spectral
    centroid, bandwidth, roll-off, flatness, zero-crossing rate and onset strength, plus
    ``mfcc_change``: the mean Euclidean distance between consecutive MFCC frames, which grows when
    the frames' order is broken. Vectors: mean and standard deviation over frames of 20 MFCCs,
    12 chroma bins and 32 mel bands in dB.
    """
    from tunesmith.audio import features as F

    y = np.asarray(samples, dtype=np.float32)
    frames = {"n_fft": n_fft, "hop_length": hop_length}
    mel_db = F.power_to_db(F.mel_spectrogram(y, sr=sr, n_mels=32, **frames), top_db=80.0)
    mfcc = F.mfcc(y, sr=sr, n_mfcc=20, **frames)
    chroma = F.chroma(y, sr=sr, **frames)
    rms_db = 20.0 * np.log10(np.maximum(F.rms(y, frame_length=n_fft, hop_length=hop_length)[0], 1e-5))
    centroid = F.spectral_centroid(y, sr=sr, **frames)[0]
    change = np.linalg.norm(np.diff(mfcc, axis=1), axis=0)
    return {
        "rms_db_mean": float(rms_db.mean()),
        "rms_db_std": float(rms_db.std()),
        "spectral_centroid_mean": float(centroid.mean()),
        "spectral_centroid_std": float(centroid.std()),
        "spectral_bandwidth_mean": float(F.spectral_bandwidth(y, sr=sr, **frames).mean()),
        "spectral_rolloff_mean": float(F.spectral_rolloff(y, sr=sr, **frames).mean()),
        "spectral_flatness_mean": float(F.spectral_flatness(y, **frames).mean()),
        "zero_crossing_rate_mean": float(F.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length).mean()),
        "onset_strength_mean": float(F.onset_strength(y, sr=sr, hop_length=hop_length).mean()),
        "mfcc_change": float(change.mean()) if change.size else float("nan"),
        "mfcc_mean": mfcc.mean(axis=1),
        "mfcc_std": mfcc.std(axis=1),
        "chroma_mean": chroma.mean(axis=1),
        "chroma_std": chroma.std(axis=1),
        "mel_db_mean": mel_db.mean(axis=1),
        "mel_db_std": mel_db.std(axis=1),
    }


def item_statistics(items: Sequence, kind: str) -> list[Stats]:
    """Statistics of each Piece (``kind="symbolic"``) or Clip (``kind="audio"``)."""
    if kind == "symbolic":
        return [piece_statistics(p) for p in items]
    return [clip_statistics(c.samples, sr=c.sr) for c in items]


def _column(table: list[Stats], name: str) -> np.ndarray:
    """One statistic over the items, ``shape=(n, d)``, items with NaN dropped."""
    values = np.array([np.ravel(row[name]) for row in table], dtype=np.float64)
    return values[np.isfinite(values).all(axis=1)]


def _embedding(table: list[Stats], names: list[str], fill: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, fill)``: every item's statistics in ``names`` concatenated, ``shape=(n, d)``, with NaN
    replaced by ``fill`` (by default the column means of this table, which are returned)."""
    x = np.array([np.concatenate([np.ravel(row[n]) for n in names]) for row in table], dtype=np.float64)
    if fill is None:  # column means over finite values; 0 for a column without any
        finite = np.isfinite(x)
        fill = np.where(finite, x, 0.0).sum(0) / np.maximum(finite.sum(0), 1)
    return np.where(np.isfinite(x), x, fill), fill


def _verdict(overlap: float, real: np.ndarray, generated: np.ndarray) -> str:
    if overlap >= CLOSE_OVERLAP:
        return "close"
    if real.shape[1] > 1:
        return "different"
    return "generated higher" if generated.mean() > real.mean() else "generated lower"


def compare_statistic(real: np.ndarray, generated: np.ndarray, *, n_boot: int, seed: int) -> dict:
    """Means, standard deviations, MGEval numbers and a verdict for one statistic.

    ``real``, ``generated``: ``shape=(n, d)``, items where the statistic is undefined already
    dropped (their counts are ``real_count``/``generated_count``). Means and stds are lists for
    vector statistics; with fewer than 2 items in a set the verdict is ``"undefined"``.
    """

    def summary(x: np.ndarray) -> dict:
        mean, std = x.mean(0), x.std(0)
        scalar = x.shape[1] == 1
        return {"mean": float(mean[0]) if scalar else mean.tolist(), "std": float(std[0]) if scalar else std.tolist()}

    if len(real) < 2 or len(generated) < 2:
        return {"verdict": "undefined", "real_count": len(real), "generated_count": len(generated)}
    result = mgeval(real, generated, n_boot=n_boot, seed=seed)
    return {
        "real_count": len(real),
        "generated_count": len(generated),
        "real": summary(real),
        "generated": summary(generated),
        **result,
        "verdict": _verdict(result["overlap"], real, generated),
    }


def compare_tables(
    real_table: list[Stats], gen_table: list[Stats], *, kind: str, seed: int = 0, n_boot: int = 50
) -> dict:
    """Compare two sets described by per-item statistics (see :func:`item_statistics`).

    Returns ``kind``, the counts, ``two_sample_accuracy``, ``mean_overlap``,
    ``frechet_distance``, ``features`` (the statistics in the joint vector) and ``statistics``.
    """
    for name, table in (("real", real_table), ("generated", gen_table)):
        if len(table) < 2:
            raise TunesmithError(f"the {name} set holds {len(table)} usable item(s); pass at least 2")
    names = list(real_table[0])
    statistics = {
        n: compare_statistic(_column(real_table, n), _column(gen_table, n), n_boot=n_boot, seed=seed) for n in names
    }
    joint = [n for n in names if n not in EMBEDDING_EXCLUDES]
    real_x, fill = _embedding(real_table, joint, None)
    gen_x, _ = _embedding(gen_table, joint, fill)
    overlaps = [s["overlap"] for s in statistics.values() if "overlap" in s]
    return {
        "kind": kind,
        "real_count": len(real_table),
        "generated_count": len(gen_table),
        "two_sample_accuracy": two_sample_accuracy(real_x, gen_x, seed=seed),
        "mean_overlap": float(np.mean(overlaps)) if overlaps else float("nan"),
        "frechet_distance": frechet_distance(real_x, gen_x, seed=seed, n_boot=n_boot),
        "features": joint,
        "statistics": statistics,
    }


def compare_items(
    real: Sequence,
    generated: Sequence,
    *,
    kind: str,
    train: Sequence | None = None,
    seed: int = 0,
    n_boot: int = 50,
) -> dict:
    """Compare in-memory items: Pieces when ``kind="symbolic"``, Clips when ``kind="audio"``.

    Returns the dict of :func:`compare_tables`; ``train`` (Pieces) adds ``memorization``.
    """
    if kind not in ("symbolic", "audio"):
        raise TunesmithError(f"kind must be 'symbolic' or 'audio' for in-memory items, got {kind!r}")
    result = compare_tables(
        item_statistics(real, kind), item_statistics(generated, kind), kind=kind, seed=seed, n_boot=n_boot
    )
    if train is not None and kind == "symbolic":
        result["memorization"] = memorization(generated, train)
    return result


def _paths(source: str | Path | Sequence[str | Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files with one of ``suffixes`` in a folder (recursively) or in a list of files/folders."""
    entries = [source] if isinstance(source, (str, Path)) else list(source)
    found: list[Path] = []
    for entry in map(Path, entries):
        if entry.is_dir():
            found += sorted(p for p in entry.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        elif entry.is_file():
            found.append(entry)
        else:
            raise DataError(entry, "not found; pass a folder or a list of music or audio files")
    return found


def detect_kind(real: Sequence[Path], generated: Sequence[Path]) -> str:
    """``"symbolic"`` when both sets hold music files (MIDI/MusicXML/ABC), else ``"audio"`` when
    both hold recordings; a folder of generated MIDI with its rendered WAVs counts as music."""
    from tunesmith.audio import AUDIO_SUFFIXES
    from tunesmith.io import SUFFIXES

    for kind, suffixes in (("symbolic", SUFFIXES), ("audio", AUDIO_SUFFIXES)):
        if all(any(p.suffix.lower() in suffixes for p in paths) for paths in (real, generated)):
            return kind
    raise TunesmithError(
        "the real and generated sets share no kind (one holds music files, the other recordings); "
        "pass two folders of MIDI/MusicXML/ABC or two of audio"
    )


def _of_kind(paths: list[Path], kind: str) -> list[Path]:
    """The paths whose suffix belongs to ``kind``."""
    from tunesmith.audio import AUDIO_SUFFIXES
    from tunesmith.io import SUFFIXES

    suffixes = SUFFIXES if kind == "symbolic" else AUDIO_SUFFIXES
    return [p for p in paths if p.suffix.lower() in suffixes]


def _read_all(paths: list[Path], kind: str, sr: int, workers: int, progress: bool) -> tuple[list, list[dict]]:
    """``(items, skipped)``: the Pieces or Clips read from ``paths``, and ``{path, reason}`` per failure."""
    from tunesmith.audio import read_audio
    from tunesmith.io import map_in_order, outcome_of, read_piece

    reader = read_piece if kind == "symbolic" else partial(read_audio, sr=sr)
    outcomes = map_in_order(
        partial(outcome_of, reader), [str(p) for p in paths], workers=workers, progress=progress, desc="reading"
    )
    items = [item for item, _ in outcomes if item is not None]
    skipped = [{"path": str(p), "reason": reason} for p, (item, reason) in zip(paths, outcomes) if item is None]
    for row in skipped:
        logger.warning("skipping %s: %s", row["path"], row["reason"])
    return items, skipped


def compare_sets(
    real: str | Path | Sequence[str | Path],
    generated: str | Path | Sequence[str | Path],
    *,
    out_dir: str | Path | None = None,
    train: str | Path | Sequence[str | Path] | None = None,
    kind: str = "auto",
    seed: int = 0,
    n_boot: int = 50,
    sr: int = 22050,
    workers: int = 1,
    progress: bool = False,
) -> dict:
    """Compare generated music with real music; optionally write a report to ``out_dir``.

    ``real``, ``generated``, ``train``: a folder (searched recursively) or a list of files.
    ``kind``: ``"symbolic"`` (MIDI/MusicXML/ABC), ``"audio"`` (WAV/FLAC/OGG/MP3, read at ``sr``
    Hz) or ``"auto"`` (see :func:`detect_kind`); files of the other kind are ignored, so a folder
    of generated MIDI with rendered WAVs is judged as music. Unreadable files are skipped and
    listed in ``skipped``. ``workers`` processes read the files, with a progress bar when
    ``progress``; ``n_boot`` resamplings make each bootstrap interval.

    Returns a JSON-ready dict: ``kind``, ``real_count``, ``generated_count``,
    ``two_sample_accuracy`` (``accuracy``, Wilson ``ci``; 0.5 is ideal), ``mean_overlap`` (MGEval
    overlap averaged over statistics; 1 is ideal), ``frechet_distance`` (``value``, ``ci``),
    ``statistics`` (per statistic: real/generated mean and std, ``overlap``, ``kl``, their
    bootstrap intervals, the mean distances and a ``verdict``), ``memorization`` when ``train``
    is given (symbolic only), ``skipped`` and ``plots`` (PNG paths). With ``out_dir``, writes
    ``compare.json``, ``summary.md`` and one PNG per statistic there.

    Raises:
        TunesmithError: a missing or empty folder, fewer than 2 readable items in a set, music
            against audio, or ``train`` with audio.
    """
    if kind not in KINDS:
        raise TunesmithError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    suffixes = _suffixes()
    real_paths, gen_paths = _paths(real, suffixes), _paths(generated, suffixes)
    for name, source, paths in (("real", real, real_paths), ("generated", generated, gen_paths)):
        if not paths:
            raise TunesmithError(f"the {name} set {source} holds no music or audio files; pass a folder that does")
    kind = detect_kind(real_paths, gen_paths) if kind == "auto" else kind
    real_paths, gen_paths = _of_kind(real_paths, kind), _of_kind(gen_paths, kind)
    if train is not None and kind != "symbolic":
        raise TunesmithError("train applies to symbolic music only; leave it out when comparing audio")
    real_items, skipped = _read_all(real_paths, kind, sr, workers, progress)
    gen_items, gen_skipped = _read_all(gen_paths, kind, sr, workers, progress)
    train_items, train_skipped = None, []
    if train is not None:
        train_items, train_skipped = _read_all(_paths(train, suffixes), "symbolic", sr, workers, progress)
        if not train_items:
            raise TunesmithError(f"the training set {train} holds no readable music files; pass a folder that does")
    for name, items, source in (("real", real_items, real), ("generated", gen_items, generated)):
        if len(items) < 2:
            raise TunesmithError(f"the {name} set {source} holds {len(items)} readable item(s); pass at least 2")
    real_table, gen_table = item_statistics(real_items, kind), item_statistics(gen_items, kind)
    result = compare_tables(real_table, gen_table, kind=kind, seed=seed, n_boot=n_boot)
    if train_items is not None and kind == "symbolic":
        result["memorization"] = memorization(gen_items, train_items)
    result["skipped"] = skipped + gen_skipped + train_skipped
    result["plots"] = []
    if out_dir is not None:
        write_report(result, real_table, gen_table, Path(out_dir))
    return result


def _suffixes() -> tuple[str, ...]:
    from tunesmith.audio import AUDIO_SUFFIXES
    from tunesmith.io import SUFFIXES

    return tuple(SUFFIXES) + tuple(AUDIO_SUFFIXES)


def write_report(result: dict, real_table: list[Stats], gen_table: list[Stats], out_dir: Path) -> None:
    """Write one PNG per statistic, ``summary.md`` and ``compare.json`` (last) into ``out_dir``.

    The PNG paths are added to ``result["plots"]`` before the JSON is written.
    """
    import json

    from tunesmith.utils import atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, stat in result["statistics"].items():
        if "overlap" in stat:
            real, generated = _column(real_table, name), _column(gen_table, name)
            result["plots"].append(str(plot_statistic(name, real, generated, stat, out_dir / f"{name}.png")))
    atomic_write_text(out_dir / "summary.md", summary_markdown(result))
    atomic_write_text(out_dir / "compare.json", json.dumps(result, indent=2, default=float) + "\n")


def plot_statistic(name: str, real: np.ndarray, generated: np.ndarray, stat: dict, out_png: Path) -> Path:
    """Both sets' distributions of one statistic: overlaid histograms for a scalar
    (``shape=(n, 1)``), mean +- std per dimension for a vector (``shape=(n, d)``)."""
    from tunesmith.plots import NOTE_NAMES, _figure, _save

    fig = _figure((7, 4))
    ax = fig.add_subplot()
    if real.shape[1] == 1:
        bins = np.histogram_bin_edges(np.concatenate([real[:, 0], generated[:, 0]]), bins=20)
        for values, label in ((real, "real"), (generated, "generated")):
            ax.hist(values[:, 0], bins=bins, density=True, alpha=0.5, label=f"{label} (n={len(values)})")
        ax.set_xlabel(name)
        ax.set_ylabel("density")
    else:
        dims = np.arange(real.shape[1])
        for values, label in ((real, "real"), (generated, "generated")):
            mean, std = values.mean(0), values.std(0)
            ax.plot(dims, mean, label=f"{label} (n={len(values)})")
            ax.fill_between(dims, mean - std, mean + std, alpha=0.25)
        pitch_classes = name == "pitch_class_histogram"
        if pitch_classes:
            ax.set_xticks(dims, NOTE_NAMES)
        ax.set_xlabel("pitch class" if pitch_classes else "dimension")
        ax.set_ylabel(f"{name} (mean +- std)")
    ax.set_title(f"{name}: overlap {stat['overlap']:.2f}, {stat['verdict']}")
    ax.legend()
    return _save(fig, out_png)


def _spread(summary: dict) -> str:
    """``mean +- std`` of a scalar statistic; the dimension of a vector one."""
    if isinstance(summary["mean"], list):
        return f"vector[{len(summary['mean'])}]"
    return f"{summary['mean']:.3g} +- {summary['std']:.3g}"


def summary_table(result: dict) -> list[str]:
    """One Markdown table row per statistic: real and generated mean +- std, overlap, KL, verdict."""
    rows = ["| statistic | real | generated | overlap [95% CI] | KL | verdict |", "|---|---|---|---|---|---|"]
    for name, s in result["statistics"].items():
        if "overlap" not in s:
            rows.append(f"| {name} | | | | | {s['verdict']} |")
            continue
        real, gen = s["real"], s["generated"]
        low, high = s["overlap_ci"]
        rows.append(
            f"| {name} | {_spread(real)} | {_spread(gen)} "
            f"| {s['overlap']:.2f} [{low:.2f}, {high:.2f}] | {s['kl']:.3f} | {s['verdict']} |"
        )
    return rows


def headline(result: dict) -> list[str]:
    """The three headline numbers of a comparison, one line each."""
    acc, fd = result["two_sample_accuracy"], result["frechet_distance"]
    return [
        f"two-sample accuracy: {acc['accuracy']:.3f} [{acc['ci'][0]:.3f}, {acc['ci'][1]:.3f}] (0.5 is ideal)",
        f"mean MGEval overlap: {result['mean_overlap']:.3f} (1 is ideal)",
        f"Frechet distance: {fd['value']:.3f} [{fd['ci'][0]:.3f}, {fd['ci'][1]:.3f}] (0 is ideal)",
    ]


def summary_markdown(result: dict) -> str:
    """The whole comparison as a Markdown page."""
    lines = [
        f"# {result['kind']} comparison: {result['real_count']} real vs {result['generated_count']} generated",
        "",
        *(f"- {line}" for line in headline(result)),
        "",
        *summary_table(result),
    ]
    if "memorization" in result:
        m = result["memorization"]
        lines += [
            "",
            "## Memorization",
            "",
            f"Longest melody passage copied from the training pieces (transposition-invariant): "
            f"max {m['max_notes']} notes / {m['max_beats']:g} beats, mean {m['mean_notes']:.1f} notes; "
            f"{m['copied_rate']:.0%} of pieces copy at least {m['min_notes']} notes.",
        ]
    if result.get("skipped"):
        lines += ["", "## Skipped files", ""] + [f"- {s['path']}: {s['reason']}" for s in result["skipped"]]
    return "\n".join(lines) + "\n"
