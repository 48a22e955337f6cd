"""tunesmith: train neural networks on music and generate new music.

The public API, imported lazily so that ``import tunesmith`` stays fast::

    load_config, train, load_run, generate, write_pieces, render, run_demo,
    read_piece, write_midi, list_models
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_config": "tunesmith.config",
    "ExperimentConfig": "tunesmith.config",
    "train": "tunesmith.training",
    "TrainResult": "tunesmith.training",
    "load_run": "tunesmith.run",
    "generate": "tunesmith.run",
    "write_pieces": "tunesmith.run",
    "Run": "tunesmith.run",
    "render": "tunesmith.synthesis",
    "run_demo": "tunesmith.demo",
    "read_piece": "tunesmith.io",
    "write_midi": "tunesmith.io",
    "list_models": "tunesmith.models",
    "Piece": "tunesmith.music",
    "TunesmithError": "tunesmith.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'tunesmith' has no attribute {name!r}")
