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
LOSS_COLUMNS = ("epoch", "train_loss", "valid_nll")


def note_name(pitch: int) -> str:
    """MIDI pitch -> scientific pitch name, e.g. ``60 -> "C4"``, ``69 -> "A4"``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def plot_loss_curves(metrics_csv: str | Path, out_png: str | Path, *, title: str | None = None) -> Path:
    """Plot training loss and validation NLL against epoch from a trainer's ``metrics.csv``.

    The CSV has the columns ``epoch,step,train_loss,valid_nll,lr,seconds``; empty cells (e.g. no
    validation on an epoch) are skipped. The epoch with the lowest validation NLL is marked.
    Returns ``out_png``. Raises DataError when the file is missing, has no rows, lacks a column or
    holds something that is not a number.
    """
    from matplotlib.ticker import MaxNLocator

    epochs, train, valid = _read_losses(Path(metrics_csv))
    fig = _figure((8, 5))
    ax = fig.add_subplot()
    for values, label, style in ((train, "train loss", "o-"), (valid, "validation NLL", "s-")):
        keep = np.isfinite(values)
        if keep.any():
            ax.plot(epochs[keep], values[keep], style, markersize=3, label=label)
    if np.isfinite(valid).any():
        best = int(np.nanargmin(np.where(np.isfinite(valid), valid, np.nan)))
        ax.axvline(epochs[best], color="grey", linestyle=":", linewidth=1)
        ax.plot(
            epochs[best],
            valid[best],
            "*",
            color="tab:red",
            markersize=14,
            label=f"best validation: {valid[best]:.4f} (epoch {epochs[best]:g})",
        )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss (nats)")
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


def _read_losses(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(epoch, train_loss, valid_nll)`` columns of a metrics CSV, NaN where a cell is empty."""
    if not path.is_file():
        raise DataError(path, "metrics file not found")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in LOSS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(path, f"missing column(s) {', '.join(missing)}; expected {', '.join(LOSS_COLUMNS)}")
        rows = [[_number(row.get(c), path, line, c) for c in LOSS_COLUMNS] for line, row in enumerate(reader, start=2)]
    table = np.array(rows, dtype=float).reshape(-1, len(LOSS_COLUMNS))
    table = table[np.isfinite(table[:, 0])]
    if len(table) == 0:
        raise DataError(path, "no rows with an epoch: nothing to plot")
    if not np.isfinite(table[:, 1:]).any():
        raise DataError(path, "no train_loss or valid_nll values: nothing to plot")
    return table[:, 0], table[:, 1], table[:, 2]


def _number(cell: str | None, path: Path, line: int, column: str) -> float:
    if cell is None or not cell.strip():
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise DataError(path, f"line {line}: {column} is not a number: {cell!r}") from None
