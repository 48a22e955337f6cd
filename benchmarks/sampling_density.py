"""How dense generated piano rolls are, against the music a run was trained on.

    python benchmarks/sampling_density.py RUN_DIR [--num 16] [--length 256]

Samples ``num`` pieces of ``length`` frames from RUN_DIR's best checkpoint at several
(temperature, top-p) settings and prints one JSON object with, for each setting and for the
run's own validation pieces (the reference, prepared from the run's config in the same run):
the mean number of sounding keys per frame, the share of frames with more than 6, the share
of silent frames, and the share of pieces with a frame of more than 8 sounding keys.
"""

from __future__ import annotations

import argparse
import json
from functools import partial

import numpy as np

from tunesmith.config import config_from_dict
from tunesmith.data import prepare_data
from tunesmith.representation import make_consistent
from tunesmith.run import load_run
from tunesmith.sampling import sample_frames

SETTINGS = [(1.0, 1.0), (0.9, 0.95), (0.8, 0.9), (0.7, 0.9)]


def density(held: list[np.ndarray]) -> dict[str, float]:
    """Statistics of sounding-key counts, one array ``shape=(T,)`` per piece."""
    frames = np.concatenate(held)
    return {
        "mean_keys": round(float(frames.mean()), 2),
        "frames_over_6": round(float(np.mean(frames > 6)), 3),
        "silent_frames": round(float(np.mean(frames == 0)), 3),
        "pieces_with_burst_over_8": round(float(np.mean([(h > 8).any() for h in held])), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--num", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    run = load_run(args.run_dir)
    rep, keys = run.representation, run.representation.keys
    config = config_from_dict(run.config)
    data = prepare_data(config.data, config.representation, progress=False)
    out = {"reference_valid": density([x[:, :keys].sum(-1) for x in data.splits["valid"]])}
    for temperature, top_p in SETTINGS:
        frames = sample_frames(
            run.model,
            num=args.num,
            length=args.length,
            temperature=temperature,
            top_p=top_p,
            seed=args.seed,
            repair=partial(make_consistent, config=rep),
        )
        out[f"T={temperature},top_p={top_p}"] = density([f[:, :keys].sum(-1) for f in frames])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
