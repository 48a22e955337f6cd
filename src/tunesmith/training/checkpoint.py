"""Self-contained checkpoints: model name, options and weights, the representation with its
fitted statistics, the optimizers' and schedulers' states, progress and package version, in one
file that loads with ``weights_only=True`` (no pickled code runs on load). Written to a
temporary file, then renamed.

Format 2 (this one) is built by ``checkpoint_payload`` only. Format-1 files (tunesmith before
the representation registry: piano rolls only, one optimizer) are migrated when loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import CheckpointError
from ..utils import atomic_write

FORMAT = "tunesmith-checkpoint/2"
FORMAT_1 = "tunesmith-checkpoint/1"
PROGRESS_KEYS = ("epoch", "step", "best_metric", "best_value", "best_epoch", "bad_epochs", "seconds", "frames")


def checkpoint_payload(
    *,
    model: torch.nn.Module,
    representation: Any,
    config: Any,
    progress: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None = None,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    schedulers: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Everything a run needs to be evaluated, sampled from or resumed, as plain data.

    ``state_dict`` defaults to the model's (an averaged copy may be passed instead); ``meta``
    holds what decoding needs beyond the representation (the source's typical ``qpm``)."""
    return {
        "model": model.spec(),
        "representation": representation.spec(),
        "meta": dict(meta or {}),
        "config": config.to_dict(),
        "state_dict": state_dict if state_dict is not None else model.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in (optimizers or {}).items()},
        "schedulers": {name: sched.state_dict() for name, sched in (schedulers or {}).items()},
        "progress": {k: progress[k] for k in PROGRESS_KEYS if k in progress},
        **extra,
    }


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, numbers, strings, lists, dicts) atomically to ``path``."""
    payload = {"format": FORMAT, "tunesmith_version": __version__, **payload}
    return atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (format 2, or format 1 migrated to 2);
    CheckpointError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable tunesmith checkpoint ({_reason(exc)})") from exc
    if not isinstance(payload, dict) or payload.get("format") not in (FORMAT, FORMAT_1):
        raise CheckpointError(f"{path}: not a tunesmith checkpoint")
    if payload["format"] == FORMAT_1:
        try:
            payload = migrate_format_1(payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: a format-1 checkpoint that cannot be migrated ({exc})") from exc
    return payload


def _reason(exc: Exception) -> str:
    """One line on why torch.load refused a file, without PyTorch's advice to load it unsafely."""
    text = str(exc)
    if "weights_only" in text or "Unsupported global" in text or "Unpickler" in text:
        return "it holds Python objects other than tensors and plain data, which tunesmith refuses to unpickle"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{type(exc).__name__}: {first[:200]}"


def migrate_format_1(payload: dict[str, Any]) -> dict[str, Any]:
    """A format-1 payload as format 2: the piano-roll settings become a ``pianoroll``
    representation section, one optimizer/scheduler become named ones, the progress numbers
    move under ``progress`` (the best validation NLL becomes ``best_value`` of metric ``nll``),
    and model options gain the Bernoulli head the old models had."""
    from ..models import model_config

    rep_params = dict(payload["representation"])
    config = dict(payload["config"])
    config["representation"] = {"name": "pianoroll", **dict(config.get("representation") or rep_params)}
    spec = dict(payload["model"])
    filled = model_config({"name": spec["name"], **spec["params"]})
    if "head" in filled:
        filled["head"] = "bernoulli"
    filled.pop("name")
    progress = {k: payload[k] for k in PROGRESS_KEYS if k in payload}
    progress.update(best_metric="nll", best_value=payload.get("best_valid_nll", float("inf")))
    migrated = {
        "format": FORMAT,
        "tunesmith_version": payload.get("tunesmith_version", "0.1.0"),
        "migrated_from": FORMAT_1,
        "model": {**spec, "params": filled},
        "representation": {"name": "pianoroll", "params": rep_params, "state": {}},
        "meta": {"qpm": float(payload.get("qpm", 120.0))},
        "config": config,
        "state_dict": payload["state_dict"],
        "optimizers": {"model": payload["optimizer"]} if "optimizer" in payload else {},
        "schedulers": {"model": payload["scheduler"]} if "scheduler" in payload else {},
        "progress": progress,
    }
    for key in ("train_state_dict", "averaged", "members"):
        if key in payload:
            migrated[key] = payload[key]
    return migrated
