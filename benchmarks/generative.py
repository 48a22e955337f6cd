"""Train each GAN, autoencoder, the denoiser and the similarity index briefly on the built-in
data and measure them: one JSON object.

    python benchmarks/generative.py [--json] [--quick] [--only gan,vae,restore,similarity]

The work is done by one module per part (``generative_gan.py``, ``generative_vae.py``,
``generative_restore.py``, ``generative_similarity.py``, each also runnable alone); each
returns rows with ``model`` and ``train_seconds`` and, as they apply:

- ``note_f1``: held-out reconstruction note F1 per frame (autoencoders on piano rolls);
- ``spectral_convergence``: held-out reconstruction spectral convergence (autoencoders on mel);
- ``elbo_bound``: the VAE's held-out ELBO in nats per frame, a bound on the NLL, not an NLL;
- ``two_sample_accuracy``: the judge's classifier two-sample test of samples against held-out
  music (0.5: indistinguishable), next to the foundation LSTM's under the same budget and, for
  scale, held-out music with a little noise added (``held-out + noise`` rows, no training);
- ``snr_gain_db``: the denoiser's SNR gain on held-out clips damaged with white noise at 10 dB;
- ``top1``: the share of similarity queries whose source is the top hit.

Notes come from the Bach chorales of music21, sound from ``bach-chorales-audio`` (built into the
cache on first use).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

PARTS = ("gan", "vae", "restore", "similarity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--quick", action="store_true", help="a much shorter run, to check the script works")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO, format="%(message)s")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch

    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    rows, seconds = [], {}
    for part in parts:
        started = time.monotonic()
        module = importlib.import_module(f"generative_{part}")
        rows.extend({"part": part, **row} for row in module.run(quick=args.quick))
        seconds[part] = round(time.monotonic() - started, 1)
    result = {
        "models": rows,
        "part_seconds": seconds,
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()},
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
