"""Pictures of a run and of a piece: loss curves and piano rolls, saved as PNG without a display."""

from __future__ import annotations

import csv
import math
from functools import partial
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError
from .utils import atomic_write

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
CURVE_PREFIXES = ("train_", "valid_")


def note_name(pitch: int) -> str:
    """MIDI pitch -> scientific pitch name, e.g. ``60 -> "C4"``, ``69 -> "A4"``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def plot_loss_curves(
    metrics_csv: str | Path, out_png: str | Path, *, title: str | None = None, best: str | None = None
) -> Path:
    """Plot every training and validation curve of a trainer's ``metrics.csv`` against epoch.

    Every column named ``train_*`` or ``valid_*`` is drawn (``train_loss`` and ``valid_nll`` for a
    likelihood model; a GAN's ``train_loss_g``, ``train_loss_d``, ...); empty cells (an epoch
    without that number) are skipped. The epoch with the lowest value of the ``best`` column
    (default: ``valid_nll`` if present, else the first ``valid_*`` column) is marked.
    Returns ``out_png``. Raises DataError when the file is missing, has no rows, lacks an
    ``epoch`` column or any ``train_*``/``valid_*`` column, or holds something that is not a number.
    """
    from matplotlib.ticker import MaxNLocator

    epochs, curves = _read_curves(Path(metrics_csv))
    fig = _figure((8, 5))
    ax = fig.add_subplot()
    for name, values in curves.items():
        keep = np.isfinite(values)
        if keep.any():
            style = "s-" if name.startswith("valid_") else "o-"
            ax.plot(epochs[keep], values[keep], style, markersize=3, label=name.replace("_", " ", 1))
    valid = [name for name in curves if name.startswith("valid_")]
    marked = best or ("valid_nll" if "valid_nll" in curves else (valid[0] if valid else None))
    if marked in curves and np.isfinite(curves[marked]).any():
        values = curves[marked]
        at = int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))
        ax.axvline(epochs[at], color="grey", linestyle=":", linewidth=1)
        ax.plot(
            epochs[at],
            values[at],
            "*",
            color="tab:red",
            markersize=14,
            label=f"best {marked.replace('_', ' ', 1)}: {values[at]:.4f} (epoch {epochs[at]:g})",
        )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss (nats)" if set(curves) <= {"train_loss", "valid_nll"} else "value")
    ax.set_title(title or "loss curves")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(fig, Path(out_png))


def plot_piano_roll(
    roll: np.ndarray,
    out_png: str | Path,
    *,
    lowest_pitch: int = 21,
    step_label: str = "frame",
    seconds_per_step: float | None = None,
    title: str | None = None,
    onsets: np.ndarray | None = None,
) -> Path:
    """Draw a piano roll ``shape=(T, K)`` (0/1 or probabilities in [0, 1]) as an image.

    Time runs along x (in steps named ``step_label``, or in seconds when ``seconds_per_step`` is
    given), MIDI pitch ``lowest_pitch .. lowest_pitch + K - 1`` along y, labelled at every C.
    ``onsets`` (``shape=(T, K)``, nonzero where a note starts) are drawn as markers, so repeated
    notes on a held key stay visible. Returns ``out_png``; ConfigError for wrong shapes or values.
    """
    roll = _check_roll(roll, "roll")
    steps, keys = roll.shape
    if lowest_pitch < 0 or lowest_pitch + keys - 1 > 127:
        raise ConfigError(f"pitches {lowest_pitch}..{lowest_pitch + keys - 1} are outside MIDI's 0..127")
    if onsets is not None:
        onsets = _check_roll(onsets, "onsets")
        if onsets.shape != roll.shape:
            raise ConfigError(f"onsets must have the roll's shape=(T, K)={roll.shape}, got shape={onsets.shape}")
    dt = float(seconds_per_step) if seconds_per_step else 1.0
    fig = _figure((10, 5))
    ax = fig.add_subplot()
    extent = (0.0, max(steps, 1) * dt, lowest_pitch - 0.5, lowest_pitch + keys - 0.5)
    image = ax.imshow(
        roll.T if steps else np.zeros((keys, 1)),
        origin="lower",
        aspect="auto",
        cmap="Blues",
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        extent=extent,
    )
    if not np.isin(roll, (0.0, 1.0)).all():
        fig.colorbar(image, ax=ax, label="probability", pad=0.01)
    if onsets is not None and onsets.any():
        t, k = np.nonzero(onsets)
        ax.scatter(
            (t + 0.15) * dt, lowest_pitch + k, marker="|", s=60, color="tab:orange", linewidths=2, label="onset"
        )  # at the start of the cell, so a repeated note shows a new mark
        ax.legend(loc="upper right", fontsize="small")
    octave_cs = [p for p in range(lowest_pitch, lowest_pitch + keys) if p % 12 == 0]
    ax.set_yticks(octave_cs, [note_name(p) for p in octave_cs])
    ax.set_yticks(range(lowest_pitch, lowest_pitch + keys), minor=True)
    ax.tick_params(axis="y", which="minor", length=2)
    ax.grid(True, axis="y", alpha=0.25)
    ax.set_xlabel("time (s)" if seconds_per_step else step_label)
    ax.set_ylabel("pitch")
    ax.set_title(title or f"piano roll: {steps} {step_label}s, {keys} keys")
    return _save(fig, Path(out_png))


def _figure(size: tuple[float, float]):
    """A matplotlib Figure not tied to pyplot or a display."""
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=100, layout="constrained")


def _save(fig, out_png: Path) -> Path:
    """Save ``fig`` as PNG at ``out_png`` atomically and free it."""
    try:
        return atomic_write(out_png, partial(fig.savefig, format="png"))
    finally:
        fig.clear()


def _check_roll(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ConfigError(f"{name} must have shape=(T, K) with K >= 1 keys, got shape={array.shape}")
    if array.size and (not np.isfinite(array).all() or array.min() < 0 or array.max() > 1):
        raise ConfigError(f"{name} values must lie in [0, 1]")
    return array


def _read_curves(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The ``epoch`` column and every ``train_*``/``valid_*`` column of a metrics CSV, NaN where
    a cell is empty."""
    if not path.is_file():
        raise DataError(path, "metrics file not found")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        names = [c for c in (reader.fieldnames or []) if c.startswith(CURVE_PREFIXES)]
        if "epoch" not in (reader.fieldnames or []) or not names:
            raise DataError(
                path, "missing column(s): expected epoch and train_* / valid_* columns (train_loss, valid_nll)"
            )
        columns = ["epoch", *names]
        rows = [[_number(row.get(c), path, line, c) for c in columns] for line, row in enumerate(reader, start=2)]
    table = np.array(rows, dtype=float).reshape(-1, len(columns))
    table = table[np.isfinite(table[:, 0])]
    if len(table) == 0:
        raise DataError(path, "no rows with an epoch: nothing to plot")
    if not np.isfinite(table[:, 1:]).any():
        raise DataError(path, f"no {' or '.join(names)} values: nothing to plot")
    return table[:, 0], {name: table[:, i + 1] for i, name in enumerate(names)}


def _number(cell: str | None, path: Path, line: int, column: str) -> float:
    if cell is None or not cell.strip():
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise DataError(path, f"line {line}: {column} is not a number: {cell!r}") from None
