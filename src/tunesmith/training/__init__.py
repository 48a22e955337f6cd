"""Training: one loop, checkpoints, logging, distributed through torch.distributed."""

from __future__ import annotations

from pathlib import Path

from ..config import ExperimentConfig
from ..models import model_class
from .checkpoint import checkpoint_payload, load_checkpoint, save_checkpoint
from .ensemble import train_ensemble
from .trainer import TrainResult, train_run


def train(config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train the model ``config`` describes into ``out_dir`` (see ``trainer.train_run``); with
    ``resume``, continue an interrupted run. A family that trains as several runs (an
    ``ensemble``'s members, then its pool weights) declares ``trains_as_members``."""
    if getattr(model_class(config.model["name"]), "trains_as_members", False):
        return train_ensemble(config, out_dir, resume=resume, progress=progress)
    return train_run(config, out_dir, resume=resume, progress=progress)


__all__ = ["TrainResult", "checkpoint_payload", "load_checkpoint", "save_checkpoint", "train", "train_run"]
