"""One self-contained HTML page about a training run: config, curves, samples, comparison.

The page links its media with relative paths into ``REPORT_DIR/media`` rather than embedding
them as ``data:`` URIs: a few WAV files would make the page tens of megabytes (base64 adds a
third) and slow to open, while a folder with ``index.html`` and ``media/`` still opens anywhere
it is copied.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import shutil
import time
from collections import defaultdict
from functools import partial
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from ..errors import DataError, TunesmithError
from ..utils import atomic_write, atomic_write_text
from .templates import report_page as h

log = logging.getLogger(__name__)

AUDIO = (".wav", ".flac", ".ogg", ".mp3")
MIDI = (".mid", ".midi")
PICTURES = (".png", ".jpg", ".jpeg", ".svg")
QUALITY_PREFIX = "quality/"
SECTIONS = (  # (anchor, title in the page's contents)
    ("config", "configuration"),
    ("curves", "curves"),
    ("quality", "generation quality"),
    ("samples", "training samples"),
    ("generated", "fresh pieces"),
    ("compare", "comparison"),
)
MAX_SAMPLES = 48  # pieces from RUN_DIR/samples shown; the newest first


def build_report(
    run_dir: str | Path,
    *,
    out_dir: str | Path | None = None,
    num: int = 4,
    length: int = 128,
    seed: int = 0,
    real: str | Path | None = None,
    soundfont: str | Path | None = None,
) -> Path:
    """Write ``out_dir/index.html`` (default ``RUN_DIR/report``) with its pictures and audio in
    ``out_dir/media``; return the page's path.

    The page holds the resolved config, every numeric column of ``metrics.csv`` (and of
    ``quality.csv``, or ``quality/<name>`` columns) against epoch, the pieces under
    ``RUN_DIR/samples``, ``num`` fresh pieces of ``length`` frames sampled with ``seed``, and,
    given a folder of held-out ``real`` music, a comparison with it. A part that cannot be made
    (no checkpoint, no metrics, an optional module missing) becomes a note on the page.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(run_dir, "run directory not found; give the folder `tunesmith train --out` wrote")
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    media = out / "media"
    media.mkdir(parents=True, exist_ok=True)
    run, why = _load(run_dir)
    generated = media / "generated"
    sections = [
        config_section(run_dir),
        curves_section(run_dir, out, media),
        quality_section(run_dir, out, media),
        samples_section(run_dir, out, media, run=run, soundfont=soundfont),
        fresh_section(run, why, out, generated, num=num, length=length, seed=seed, soundfont=soundfont),
        compare_section(
            real
            if real is not None or run is None
            else held_out(run, media / "held-out", count=max(num, 8), length=length),
            generated if run is not None else None,
            out,
            media,
            seed=seed,
        ),
    ]
    meta = f"run {run_dir.resolve()}; {_run_summary(run)}; report made {time.strftime('%Y-%m-%d %H:%M %Z')}"
    page = h.page(f"tunesmith run report: {run_dir.resolve().name}", meta, sections, contents=h.nav(SECTIONS))
    return atomic_write_text(out / "index.html", page)


def _load(run_dir: Path):
    """``(run, None)`` or ``(None, why)`` when the run has no usable checkpoint."""
    from ..run import load_run

    try:
        return load_run(run_dir, device="cpu"), None
    except TunesmithError as exc:
        return None, str(exc)


def _run_summary(run) -> str:
    if run is None:
        return "no usable checkpoint"
    info = run.info
    model = run.config.get("model", {}).get("name", "?") if isinstance(run.config, dict) else "?"
    nll = info.get("best_valid_nll")
    score = f", validation NLL {nll:.4f}" if isinstance(nll, int | float) else ""
    return f"model {model}, best checkpoint from epoch {info.get('epoch')}{score}"


# ----------------------------------------------------------------------------- config and curves


def config_section(run_dir: Path) -> str:
    """``RUN_DIR/config.yaml`` as one key-value table per section, and the file itself."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return h.section("config", "Configuration", [h.note(f"{path} is missing.")])
    text = path.read_text()
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        config = None
    parts = []
    if isinstance(config, dict):
        tables = [
            h.card(str(name), [h.table(["key", "value"], [[k, _scalar(v)] for k, v in values.items()], kind="kv")])
            for name, values in config.items()
            if isinstance(values, dict)
        ]
        parts.append(h.cards(tables, narrow=True))
    parts.append(h.details(f"config.yaml ({len(text.splitlines())} lines)", h.pre(text), open_=not parts))
    return h.section("config", "Configuration", parts)


def _scalar(value: object) -> object:
    """A config value for a table cell: scalars as they are, lists and mappings as flow YAML."""
    if isinstance(value, dict | list):
        return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return value


def read_table(path: str | Path) -> dict[str, np.ndarray]:
    """The numeric columns of a CSV file, in file order, ``{name: shape=(rows,)}``; empty cells are NaN.

    A column with any cell that is not a number is left out. Raises DataError for a missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    columns = {}
    for index, name in enumerate(header):
        cells = [row[index].strip() if index < len(row) else "" for row in body]
        try:
            values = np.array([float(c) if c else math.nan for c in cells], dtype=float)
        except ValueError:
            continue
        if np.isfinite(values).any():
            columns[name] = values
    return columns


def x_axis(columns: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
    """The column to plot against: ``epoch``, else ``step``, else the row number."""
    for name in ("epoch", "step"):
        if name in columns:
            return name, columns[name]
    n = len(next(iter(columns.values()))) if columns else 0
    return "row", np.arange(1, n + 1, dtype=float)


def plot_columns(
    x: np.ndarray, columns: dict[str, np.ndarray], out_png: str | Path, *, xlabel: str, title: str
) -> Path:
    """One small panel per column ``shape=(rows,)`` against ``x`` ``shape=(rows,)``; NaNs are skipped."""
    from matplotlib.figure import Figure

    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 2.8 * nrows + 0.4), dpi=90, layout="constrained")
    fig.suptitle(title)
    for index, (name, values) in enumerate(columns.items()):
        ax = fig.add_subplot(nrows, ncols, index + 1)
        keep = np.isfinite(values) & np.isfinite(x)
        ax.plot(x[keep], values[keep], "o-", markersize=3)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
    try:
        return atomic_write(Path(out_png), partial(fig.savefig, format="png"))
    finally:
        fig.clear()


def _summary_rows(x: np.ndarray, columns: dict[str, np.ndarray]) -> list[list[object]]:
    rows = []
    for name, values in columns.items():
        finite = np.flatnonzero(np.isfinite(values))
        lo, hi = finite[np.argmin(values[finite])], finite[np.argmax(values[finite])]
        rows.append([name, float(values[finite[-1]]), float(values[lo]), float(x[lo]), float(values[hi]), float(x[hi])])
    return rows


def _curves(columns: dict[str, np.ndarray], x_name: str, x: np.ndarray, out: Path, png: Path, title: str) -> list[str]:
    plot_columns(x, columns, png, xlabel=x_name, title=title)
    header = ["column", "last", "min", f"at {x_name}", "max", f"at {x_name}"]
    return [h.image(_rel(png, out), title), h.table(header, _summary_rows(x, columns))]


def curves_section(run_dir: Path, out: Path, media: Path) -> str:
    """Every numeric column of ``metrics.csv`` except ``quality/*`` against epoch."""
    title = "Training and validation curves"
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return h.section("curves", title, [h.note(f"{path} is missing: no curves.")])
    table = read_table(path)
    x_name, x = x_axis(table)
    columns = {k: v for k, v in table.items() if k != x_name and not k.startswith(QUALITY_PREFIX)}
    if not columns:
        return h.section("curves", title, [h.note(f"{path} holds no numeric columns yet.")])
    return h.section("curves", title, _curves(columns, x_name, x, out, media / "curves.png", title))


def quality_section(run_dir: Path, out: Path, media: Path) -> str:
    """``quality/<name>`` columns of ``metrics.csv`` and every column of ``quality.csv``."""
    title = "Generation quality"
    parts = []
    metrics = read_table(run_dir / "metrics.csv") if (run_dir / "metrics.csv").is_file() else {}
    x_name, x = x_axis(metrics)
    quality = {k[len(QUALITY_PREFIX) :]: v for k, v in metrics.items() if k.startswith(QUALITY_PREFIX)}
    if quality:
        parts += _curves(quality, x_name, x, out, media / "quality.png", "quality columns of metrics.csv")
    if (run_dir / "quality.csv").is_file():
        table = read_table(run_dir / "quality.csv")
        x_name, x = x_axis(table)
        columns = {k: v for k, v in table.items() if k != x_name}
        if columns:
            parts += _curves(columns, x_name, x, out, media / "quality-csv.png", "quality.csv")
    if not parts:
        parts = [h.note("This run recorded no generation-quality measurements (quality.csv or quality/* columns).")]
    return h.section("quality", title, parts)


# ----------------------------------------------------------------------------- pieces


def samples_section(run_dir: Path, out: Path, media: Path, *, run, soundfont) -> str:
    """The pieces the trainer wrote under ``RUN_DIR/samples``, copied into ``media/samples``."""
    title = "Samples written during training"
    root = run_dir / "samples"
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    groups: dict[PurePosixPath, list[Path]] = defaultdict(list)
    for path in files:
        if path.suffix.lower() in AUDIO + MIDI + PICTURES:
            groups[PurePosixPath(path.relative_to(root).with_suffix("").as_posix())].append(path)
    if not groups:
        return h.section("samples", title, [h.note(f"No samples under {root}.")])
    names = sorted(groups, key=_natural, reverse=True)  # epoch-10 after epoch-9: the newest first
    parts = []
    if len(names) > MAX_SAMPLES:
        parts.append(h.note(f"Showing the last {MAX_SAMPLES} of {len(names)} samples."))
    items = []
    for name in names[:MAX_SAMPLES]:
        copies = [_copy(p, media / "samples" / p.relative_to(root)) for p in groups[name]]
        items.append(piece_card(str(name), copies, out, run=run, soundfont=soundfont))
    return h.section("samples", title, [*parts, h.cards(items)])


def fresh_section(run, why, out: Path, folder: Path, *, num: int, length: int, seed: int, soundfont) -> str:
    """``num`` new pieces from the run's best checkpoint, written by ``tunesmith.run.write_pieces``."""
    title = f"Freshly generated (seed {seed}, {length} frames)"
    if run is None:
        return h.section("generated", title, [h.note(f"No pieces generated: {why}")])
    if num <= 0:
        return h.section("generated", title, [h.note("No pieces asked for (--num 0).")])
    from ..run import generate, write_pieces

    shutil.rmtree(folder, ignore_errors=True)  # the report's own folder: no pieces of an earlier report
    pieces = generate(run, num=num, length=length, seed=seed)
    written = write_pieces(pieces, folder, run.representation, soundfont=soundfont, overwrite=True)
    items = [
        piece_card(getattr(piece, "name", f"piece {i + 1}"), list(files.values()), out, run=run, soundfont=soundfont)
        for i, (piece, files) in enumerate(zip(pieces, written))
    ]
    return h.section("generated", title, [h.cards(items)])


def piece_card(title: str, files: list[Path], out: Path, *, run, soundfont) -> str:
    """A card with the piece's audio player(s), pictures and MIDI link. What is missing is made
    beside the files: audio rendered from MIDI, a piano roll of MIDI without a picture, and the
    waveform and mel spectrogram of audio that has no picture at all."""
    files = [Path(f) for f in files if f]
    sounds = [f for f in files if f.suffix.lower() in AUDIO]
    midis = [f for f in files if f.suffix.lower() in MIDI]
    pictures = [f for f in files if f.suffix.lower() in PICTURES]
    notes = []
    if not sounds and midis:
        try:
            from ..synthesis import render

            sounds.append(render(midis[0], midis[0].with_suffix(".wav"), soundfont=soundfont))
        except TunesmithError as exc:
            notes.append(f"not rendered: {exc}")
    if midis and not pictures and run is not None:
        pictures += _piano_roll(midis[0], run, notes)
    if sounds and not pictures:  # an audio piece: its waveform and mel spectrogram
        pictures += audio_pictures(sounds[0], notes)
    parts = [h.audio(_rel(s, out)) for s in sounds]
    parts += [h.image(_rel(p, out), f"{title}: {p.stem}") for p in pictures]
    parts += [h.link(_rel(m, out), f"MIDI: {m.name}") for m in midis]
    parts += [h.note(n) for n in notes]
    return h.card(title, parts)


def audio_pictures(wav: Path, notes: list[str]) -> list[Path]:
    """Waveform and mel spectrogram PNGs of ``wav`` beside it, by ``tunesmith.audio.plots.plot_audio``;
    none (and a note) when that module is not installed."""
    try:
        from ..audio.plots import plot_audio
    except ImportError:
        note = "waveform and spectrogram pictures need tunesmith.audio.plots, which is not installed"
        if note not in notes:
            notes.append(note)
        return []
    made = []
    for kind in ("waveform", "mel"):
        png = wav.with_name(f"{wav.stem}-{kind}.png")
        try:
            made.append(Path(plot_audio(wav, png, kind=kind)))
        except TunesmithError as exc:
            notes.append(f"no {kind} picture: {exc}")
    return made


def _piano_roll(midi: Path, run, notes: list[str]) -> list[Path]:
    """A piano-roll PNG of a MIDI file in the run's representation (none for other representations)."""
    from ..io import read_piece
    from ..plots import plot_piano_roll
    from ..representation import PianoRollConfig, to_pianoroll

    rep = run.representation
    if not isinstance(rep, PianoRollConfig):
        return []
    try:
        roll = to_pianoroll(read_piece(midi), rep)
    except TunesmithError as exc:
        notes.append(f"no piano roll: {exc}")
        return []
    png = midi.with_name(f"{midi.stem}-roll.png")
    return [plot_piano_roll(roll.hold, png, lowest_pitch=rep.lowest_pitch, step_label=rep.step, onsets=roll.onset)]


# ----------------------------------------------------------------------------- comparison


def compare_section(real, generated: Path | None, out: Path, media: Path, *, seed: int) -> str:
    """Statistics of the fresh pieces against held-out real music, by ``tunesmith.judge.compare``."""
    title = "Comparison with real music"
    if real is None:
        text = (
            "No held-out real music: none was given (report --real DIR) and the run's own data could not be "
            "prepared here, so the pieces are not compared with real music."
        )
        return h.section("compare", title, [h.note(text)])
    if generated is None:
        return h.section("compare", title, [h.note("No comparison: no pieces could be generated (see above).")])
    try:
        from .compare import compare_sets
    except ImportError:
        return h.section("compare", title, [h.note("The comparison needs tunesmith.judge.compare, not installed.")])
    folder = media / "compare"
    fresh = _same_kind(Path(real), generated)
    if not fresh:
        return h.section("compare", title, [h.note("No comparison: no fresh pieces were generated (--num 0).")])
    try:
        result = compare_sets(Path(real), fresh, out_dir=folder, seed=seed)
    except TunesmithError as exc:
        return h.section("compare", title, [h.note(f"No comparison: {exc}")])
    measures = {k: result[k] for k in ("two_sample_accuracy", "mean_overlap", "frechet_distance") if k in result}
    real_count, fresh_count = result.get("real_count"), result.get("generated_count")
    counts = f"{real_count} real pieces from {Path(real).resolve()}; {fresh_count} fresh ones"
    parts = [h.note(counts), h.table(["measure", "value"], flatten(measures).items())]
    statistics = {name: flatten(stat) for name, stat in (result.get("statistics") or {}).items()}
    keys = list(dict.fromkeys(["verdict", *(k for row in statistics.values() for k in row)]))
    if statistics:
        rows = [[name, *(row.get(k) for k in keys)] for name, row in statistics.items()]
        parts.append(h.table(["statistic", *keys], rows))
    pictures = [Path(p) for p in result.get("plots") or []]
    pictures = pictures or (sorted(folder.rglob("*.png")) if folder.is_dir() else [])
    parts.append(h.cards(h.card(p.stem, [h.image(_rel(p, out), p.stem)]) for p in pictures if p.is_file()))
    return h.section("compare", title, parts)


def held_out(run, folder: Path, *, count: int, length: int) -> Path | None:
    """Write the first ``length`` frames of up to ``count`` pieces of the run's own test split
    (valid when it has no test pieces), decoded as the run decodes its samples, into ``folder``;
    None when the run's data cannot be prepared here."""
    from ..config import config_from_dict
    from ..data import prepare_data

    try:
        data = prepare_data(config_from_dict(run.config).data, run.representation, progress=False)
    except TunesmithError as exc:
        log.warning("report: no held-out music for the comparison (%s)", exc)
        return None
    sequences = (data.splits["test"] or data.splits["valid"])[:count]
    names = (data.names["test"] or data.names["valid"])[:count]
    for name, frames in zip(names, sequences):
        item = run.representation.decode(frames[:length], name=name, qpm=run.qpm)
        run.representation.write(item, folder / name, audio=False, plot=False)
    return folder if sequences else None


def _same_kind(real: Path, generated: Path) -> list[Path]:
    """The fresh files to compare with ``real``: MIDI when the real set is music, else the audio."""
    music = [p for p in real.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO + MIDI]
    real_audio = bool(music) and all(p.suffix.lower() in AUDIO for p in music)
    wanted = AUDIO if real_audio else MIDI
    return sorted(p for p in generated.glob("*") if p.suffix.lower() in wanted)


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    """Nested dicts as ``{"a.b": value}``; a pair of numbers (an interval) as ``"[lo, hi]"``, a
    longer list as ``"vector[n]"``."""
    if isinstance(value, dict):
        flat: dict[str, object] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list | tuple):
        if len(value) == 2 and all(isinstance(v, int | float) for v in value):
            value = f"[{value[0]:.4g}, {value[1]:.4g}]"
        else:
            value = f"vector[{len(value)}]"
    return {prefix or "value": value}


# ----------------------------------------------------------------------------- files


def _copy(src: Path, dest: Path) -> Path:
    """Copy ``src`` to ``dest`` atomically (skipped when an identical-size, newer copy is there)."""
    if dest.is_file() and dest.stat().st_size == src.stat().st_size and dest.stat().st_mtime >= src.stat().st_mtime:
        return dest
    return atomic_write(dest, lambda tmp: shutil.copyfile(src, tmp))


def _natural(name: PurePosixPath) -> list:
    """A sort key that orders the numbers inside a name by value (``epoch-9`` before ``epoch-10``)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(name))]


def _rel(path: Path, out: Path) -> PurePosixPath:
    """``path`` relative to the report folder ``out``, as a posix path for a link."""
    return PurePosixPath(Path(path).resolve().relative_to(out.resolve()).as_posix())
