"""Train each recurrent family on the built-in audio corpus with its shipped default; score it
against two baselines a model of sound must beat.

    python benchmarks/audio_models.py --json [--models rnn,gru,lstm] [--set key=value ...]

Each model trains with ``configs/audio/<model>.yaml`` (log-mel frames of the music21 Bach
chorales rendered with the project's SoundFont, a Gaussian output per mel band), keeps the
checkpoint with the best validation NLL, and is scored on the test split: nats per scored frame
(the first frame of each clip unscored), on the normalized frames the model reads. On the same
frames, the same split and the same scoring rule:

- ``baseline_gaussian_nll``: each frame drawn from a per-feature Gaussian fitted on the training
  frames (a model that ignores the past);
- ``baseline_previous_frame_nll``: the next frame equals this one plus Gaussian noise whose
  per-feature spread is fitted on the training frames' frame-to-frame differences.

Prints one JSON object: ``dataset``, ``representation`` and ``models``, a list with, per model,
``model``, ``test_nll``, ``valid_nll``, ``baseline_gaussian_nll``, ``baseline_previous_frame_nll``,
``beats_baselines``, ``train_seconds``, ``epochs``, ``stopped`` and ``params``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
from pathlib import Path

import numpy as np

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "audio"


def gaussian_nll(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Per-frame NLL (nats, summed over features) of ``x`` ``shape=(T, D)`` under N(mean, std)."""
    z = (x - mean) / std
    return (0.5 * z * z + np.log(std) + 0.5 * math.log(2 * math.pi)).sum(-1)


def baselines(train: list[np.ndarray], test: list[np.ndarray]) -> dict[str, float]:
    """The two baselines' NLL per scored test frame (frames 1.. of each sequence)."""
    frames = np.concatenate([np.asarray(x, np.float64) for x in train])
    mean, std = frames.mean(0), np.maximum(frames.std(0), 1e-6)
    steps = np.concatenate([np.diff(np.asarray(x, np.float64), axis=0) for x in train if len(x) > 1])
    spread = np.maximum(np.sqrt((steps**2).mean(0)), 1e-6)
    still, moving, count = 0.0, 0.0, 0
    for sequence in test:
        x = np.asarray(sequence, np.float64)
        if len(x) < 2:
            continue
        still += float(gaussian_nll(x[1:], mean, std).sum())
        moving += float(gaussian_nll(x[1:], x[:-1], spread).sum())
        count += len(x) - 1
    return {"baseline_gaussian_nll": still / count, "baseline_previous_frame_nll": moving / count}


def run_model(model: str, overrides: list[str], *, out: str | None = None) -> dict:
    """Train ``model`` with its shipped audio default; score it and the baselines on test."""
    from tunesmith.config import load_config
    from tunesmith.data import prepare_data
    from tunesmith.evaluation import evaluate_run
    from tunesmith.run import load_run
    from tunesmith.training import train

    config = load_config(CONFIGS / f"{model}.yaml", overrides)
    with tempfile.TemporaryDirectory(prefix="tunesmith-audio-bench-") as scratch:
        run_dir = Path(out) / model if out else Path(scratch) / "run"
        result = train(config, run_dir, progress=False)
        run = load_run(run_dir)
        scores = {split: evaluate_run(run, split=split)["nll"] for split in ("valid", "test")}
        data = prepare_data(config.data, run.representation, progress=False)
        base = baselines(data.splits["train"], data.splits["test"])
    return {
        "model": model,
        "config": str(CONFIGS / f"{model}.yaml"),
        "params": sum(p.numel() for p in run.model.parameters()),
        "valid_nll": round(scores["valid"], 3),
        "test_nll": round(scores["test"], 3),
        **{k: round(v, 3) for k, v in base.items()},
        "beats_baselines": bool(scores["test"] < min(base.values())),
        "train_seconds": round(result.seconds, 1),
        "epochs": result.epochs,
        "stopped": result.stopped,
        "test_frames": int(sum(len(x) - 1 for x in data.splits["test"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="rnn,gru,lstm", help="comma-separated model names")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    parser.add_argument("--out", default=None, help="keep the runs under this folder")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO, format="%(message)s")
    rows = [run_model(name, args.set, out=args.out) for name in args.models.split(",")]
    result = {"dataset": "bach-chorales-audio", "representation": "mel", "models": rows}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
