"""Where a run's numbers go: a CSV file, TensorBoard, and the log. Only rank 0 writes.

The trainer passes whatever named numbers the model and the validation produce (``train_loss``,
``valid_nll``, a GAN's ``train_loss_d``, ...); the CSV's columns are the union of the keys seen,
so a new key widens the file instead of being dropped.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from ..utils import atomic_write_text

FIRST_COLUMNS = ["epoch", "step"]
log = logging.getLogger("tunesmith.training")


class RunLogger:
    """Appends one row per epoch to ``metrics.csv`` and scalars to TensorBoard under ``tb/``."""

    def __init__(self, run_dir: Path, *, enabled: bool) -> None:
        self.enabled = enabled
        self.csv_path = run_dir / "metrics.csv"
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            run_dir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(log_dir=str(run_dir / "tb"))

    def step(self, step: int, values: dict[str, float]) -> None:
        """Per-step training numbers, to TensorBoard only."""
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"train/{key}_step", value, step)

    def epoch(self, row: dict[str, Any]) -> None:
        """One row of per-epoch numbers: to the CSV and TensorBoard."""
        if not self.enabled:
            return
        rows = self._rows()
        rows.append({k: row[k] for k in row})
        self._write(rows)
        for key, value in row.items():
            if key not in FIRST_COLUMNS and isinstance(value, (int, float)):
                self.writer.add_scalar(f"epoch/{key}", value, row["epoch"])
        self.writer.flush()

    def add_to_last_row(self, values: dict[str, float]) -> None:
        """Add columns to the latest epoch's row (numbers measured after it was written)."""
        if not self.enabled:
            return
        rows = self._rows()
        if rows:
            rows[-1].update(values)
            self._write(rows)
            for key, value in values.items():
                self.writer.add_scalar(key, value, int(float(rows[-1]["epoch"])))

    def image(self, tag: str, image, epoch: int) -> None:
        """An image ``shape=(H, W, 3)`` uint8 (e.g. a piano roll or spectrogram of a sample)."""
        if self.writer is not None:
            self.writer.add_image(tag, image, epoch, dataformats="HWC")

    def audio(self, tag: str, samples, epoch: int, sr: int) -> None:
        """A clip ``shape=(n,)`` float in [-1, 1]."""
        if self.writer is not None:
            self.writer.add_audio(tag, samples, epoch, sample_rate=sr)

    def truncate_after(self, epoch: int) -> None:
        """Drop rows past ``epoch`` (left by an interrupted run that is now resumed)."""
        if self.enabled and self.csv_path.exists():
            self._write([r for r in self._rows() if r.get("epoch") and int(float(r["epoch"])) <= epoch])

    def _rows(self) -> list[dict[str, Any]]:
        if not self.csv_path.exists():
            return []
        with open(self.csv_path, newline="") as handle:
            return list(csv.DictReader(handle))

    def _write(self, rows: list[dict[str, Any]]) -> None:
        columns = list(FIRST_COLUMNS)
        for row in rows:
            columns += [k for k in row if k not in columns]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.csv_path, text.getvalue())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
