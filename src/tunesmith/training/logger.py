"""Where a run's numbers go: a CSV file, TensorBoard, and the log. Only rank 0 writes."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

COLUMNS = ["epoch", "step", "train_loss", "valid_nll", "lr", "seconds"]
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
            if not self.csv_path.exists():
                with open(self.csv_path, "w", newline="") as handle:
                    csv.writer(handle).writerow(COLUMNS)

    def step(self, step: int, loss: float) -> None:
        if self.writer is not None:
            self.writer.add_scalar("train/loss_step", loss, step)

    def epoch(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.csv_path, "a", newline="") as handle:
            csv.writer(handle).writerow([row.get(c, "") for c in COLUMNS])
        for key in ("train_loss", "valid_nll", "lr"):
            if row.get(key) not in (None, ""):
                self.writer.add_scalar(f"epoch/{key}", row[key], row["epoch"])
        self.writer.flush()

    def truncate_after(self, epoch: int) -> None:
        """Drop rows past ``epoch`` (left by an interrupted run that is now resumed)."""
        if not self.enabled or not self.csv_path.exists():
            return
        with open(self.csv_path, newline="") as handle:
            rows = list(csv.reader(handle))
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= epoch]
        with open(self.csv_path, "w", newline="") as handle:
            csv.writer(handle).writerows(kept)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
