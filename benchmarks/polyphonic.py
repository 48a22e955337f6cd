"""Train one model on a piano-roll benchmark with its shipped defaults; score it the standard way.

    python benchmarks/polyphonic.py --data ../shared/data/polyphonic/JSB_Chorales.mat --model lstm --json

The datasets are the piano-roll benchmarks of Boulanger-Lewandowski et al. (2012) (``.mat`` or
``.pickle`` with their own train/valid/test split). The model trains with
``configs/polyphonic/<model>.yaml`` (or ``--config``), the checkpoint with the best ``valid`` NLL
is kept, and that checkpoint is scored on ``valid`` and ``test``. Prints one JSON object:

- ``dataset``, ``model``, ``params`` (trainable parameters), ``seed``;
- ``valid_nll`` / ``test_nll``: nats per scored frame, first frame of each sequence unscored;
- ``epochs`` (run), ``best_epoch``, ``stopped`` (why training ended);
- ``train_seconds``: wall time of the training loop, validation included;
- ``train_frames_per_second``: training frames learned from per second of that time;
- for an ``ensemble``: ``members``, each member's seed, valid NLL and best epoch (the times and
  frames above add up the members' runs).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import torch

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "polyphonic"


def run_benchmark(
    data: str, model: str, *, config: str | None = None, out: str | None = None, seed: int = 0, overrides=()
) -> dict:
    """Train, select on valid, score valid and test; return the JSON fields described above."""
    from tunesmith.config import load_config
    from tunesmith.evaluation import evaluate_run
    from tunesmith.run import load_run
    from tunesmith.training import train

    config_path = Path(config) if config else CONFIGS / f"{model}.yaml"
    if not config_path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIGS.glob("*.yaml")))
        raise SystemExit(f"no config {config_path}; shipped defaults: {known}")
    settings = [f"data.source={data}", f"model.name={model}", f"train.seed={seed}", *overrides]
    experiment = load_config(config_path, settings)
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as scratch:
        run_dir = Path(out) if out else Path(scratch) / "run"
        result = train(experiment, run_dir, progress=False)
        run = load_run(run_dir, checkpoint="best", device=experiment.train.device)
        scores = {split: evaluate_run(run, data=data, split=split)["nll"] for split in ("valid", "test")}
    return {
        "dataset": Path(data).stem,
        "model": model,
        "config": str(config_path),
        "params": sum(p.numel() for p in run.model.parameters() if p.requires_grad),
        "seed": seed,
        "valid_nll": round(scores["valid"], 4),
        "test_nll": round(scores["test"], 4),
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        "train_seconds": round(result.seconds, 1),
        "train_frames_per_second": round(result.frames / max(result.seconds, 1e-9)),
        "threads": torch.get_num_threads(),
        **({"members": run.info["members"]} if run.info.get("members") else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a .mat or .pickle piano-roll benchmark")
    parser.add_argument("--model", required=True, help="a registered model name (see `tunesmith models`)")
    parser.add_argument("--config", default=None, help="config file (default: configs/polyphonic/MODEL.yaml)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep the run here (default: a temporary folder)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO, format="%(message)s")
    result = run_benchmark(args.data, args.model, config=args.config, out=args.out, seed=args.seed, overrides=args.set)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
