"""Training: one loop, checkpoints, logging, distributed through torch.distributed."""

from .checkpoint import load_checkpoint, save_checkpoint
from .trainer import TrainResult, train

__all__ = ["TrainResult", "load_checkpoint", "save_checkpoint", "train"]
