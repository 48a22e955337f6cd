"""Time the built-in demo from a cold cache and score it against baselines.

    python benchmarks/demo.py [--json] [--audio]

Runs ``run_demo`` in a temporary folder with an empty preparation cache (the first-run
experience), then prints one JSON object:

- ``demo_seconds``: wall time of the whole demo (prepare, train, generate, render, plot);
- ``prepare_cold_seconds`` / ``prepare_cached_seconds``: preparing the chorales again from an
  empty cache, and once more from the cache;
- ``valid_nll``: the trained LSTM's validation NLL (nats per frame, 176 features per frame);
- ``baseline_valid_nll``: the same score for the model that ignores the past and predicts each
  key's training frequency, computed here on the same split: the number to beat.

With ``--audio`` the audio demo (``tunesmith demo --audio``) runs instead, and the baselines are
those of ``benchmarks/audio_models.py``: ``baseline_gaussian_valid_nll`` (a per-band Gaussian
fitted on the training frames) and ``baseline_previous_frame_valid_nll`` (the next frame equals
this one plus noise fitted on the training frames' steps).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def frequency_baseline_nll(train: list[np.ndarray], valid: list[np.ndarray]) -> float:
    """NLL per scored frame of independent keys at their training frequency (first frame unscored)."""
    p = np.concatenate(train).mean(axis=0).clip(1e-4, 1 - 1e-4)
    scored = np.concatenate([x[1:] for x in valid]).astype(np.float64)
    return float(-(scored * np.log(p) + (1 - scored) * np.log(1 - p)).sum(axis=1).mean())


def baselines(prepared, *, audio: bool) -> dict[str, float]:
    """The baselines of the demo's validation split: see the module's docstring."""
    train, valid = prepared.splits["train"], prepared.splits["valid"]
    if not audio:
        return {"baseline_valid_nll": round(frequency_baseline_nll(train, valid), 3)}
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from audio_models import baselines as sound_baselines

    scores = sound_baselines(train, valid)
    return {f"{k.removesuffix('_nll')}_valid_nll": round(v, 3) for k, v in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--audio", action="store_true", help="time the audio demo instead of the note demo")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO, format="%(message)s")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TUNESMITH_CACHE"] = str(Path(tmp) / "cache")
        from tunesmith.config import load_config
        from tunesmith.data import prepare_data
        from tunesmith.demo import demo_config_path, run_demo

        started = time.perf_counter()
        result = run_demo(Path(tmp) / "demo", progress=not args.json, audio=args.audio)
        demo_seconds = time.perf_counter() - started

        config = load_config(demo_config_path(audio=args.audio))
        os.environ["TUNESMITH_CACHE"] = str(Path(tmp) / "cache2")
        started = time.perf_counter()
        prepared = prepare_data(config.data, config.representation, progress=False)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        prepare_data(config.data, config.representation, progress=False)
        cached = time.perf_counter() - started

    print(
        json.dumps(
            {
                "demo_seconds": round(demo_seconds, 1),
                "prepare_cold_seconds": round(cold, 1),
                "prepare_cached_seconds": round(cached, 2),
                "train_seconds": round(result.training.seconds, 1),
                "epochs": result.training.epochs,
                "stopped": result.training.stopped,
                "valid_nll": round(result.training.best_valid_nll, 3),
                **baselines(prepared, audio=args.audio),
                "pieces": {s: len(prepared.splits[s]) for s in ("train", "valid", "test")},
                "frames": {s: prepared.frame_count(s) for s in ("train", "valid", "test")},
                "torch_threads": __import__("torch").get_num_threads(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
