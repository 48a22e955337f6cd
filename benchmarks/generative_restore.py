"""Restoration benchmark: train the denoiser briefly on the built-in audio corpus, then repair
held-out chorales damaged with white noise at 10 dB SNR and measure the gain in the waveform.

    python benchmarks/generative_restore.py [--quick] [--threads N] [--out DIR]

Trains ``configs/audio/denoiser.yaml`` (``--quick``: fewer pieces and minutes) on
``bach-chorales-audio`` (the first build of that corpus renders the chorales, a few minutes, then
it is cached). The held-out clips are ``seconds``-long excerpts of the test split's recordings;
each gets its own seeded white noise at 10 dB SNR. SNR and spectral convergence are averaged over
the clips. Writes ``docs/images/restore.png`` (spectrograms of one clip: clean, damaged,
restored) and prints one JSON list. Target: a gain of at least 6 dB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "audio" / "denoiser.yaml"
PICTURE = ROOT / "docs" / "images" / "restore.png"
SNR_DB = 10.0


def add_white_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``samples`` ``shape=(n,)`` plus white Gaussian noise at ``snr_db`` over the clip's power."""
    power = float(np.mean(samples**2)) / 10 ** (snr_db / 10)
    return (samples + rng.standard_normal(len(samples)) * np.sqrt(power)).astype(np.float32)


def held_out_clips(config, *, count: int, seconds: float) -> list[np.ndarray]:
    """``count`` excerpts of ``seconds`` from the middle of the test split's rendered chorales."""
    from tunesmith.audio.io import read_audio
    from tunesmith.data import prepare_data
    from tunesmith.utils import usable_cache_dir

    prepared = prepare_data(config.data, config.representation, progress=False)
    folder = usable_cache_dir() / "audio-corpus" / f"bach-chorales-{config.data.sr}"
    clips = []
    for name in sorted(prepared.names["test"]):
        samples = read_audio(folder / f"{name}.wav", sr=config.data.sr).samples
        n = int(seconds * config.data.sr)
        if len(samples) >= n:
            middle = (len(samples) - n) // 2
            clips.append(samples[middle : middle + n])
        if len(clips) == count:
            break
    return clips


def picture(clean: np.ndarray, damaged: np.ndarray, restored: np.ndarray, *, sr: int, path: Path) -> Path:
    """Three STFT spectrograms in dB, one above the other: clean, damaged, restored."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tunesmith.audio.features import stft_magnitude

    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True, constrained_layout=True)
    for ax, (title, samples) in zip(
        axes, (("clean", clean), (f"white noise at {SNR_DB:g} dB SNR", damaged), ("restored", restored)), strict=True
    ):
        db = 20 * np.log10(np.maximum(stft_magnitude(samples, n_fft=1024, hop_length=256), 1e-4))
        extent = (0.0, len(samples) / sr, 0.0, sr / 2000)
        image = ax.imshow(db, origin="lower", aspect="auto", extent=extent, vmin=-80, vmax=db.max(), cmap="magma")
        ax.set_title(title)
        ax.set_ylabel("kHz")
    axes[-1].set_xlabel("seconds")
    fig.colorbar(image, ax=axes, label="dB")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def run(quick: bool = False, *, threads: int = 2, out: Path | None = None) -> list[dict]:
    """Train, restore the held-out clips, return ``[{"model": "denoiser", ...}]`` (see the
    module docstring)."""
    import torch

    from tunesmith.config import load_config
    from tunesmith.restore import quality, restore_samples
    from tunesmith.run import load_run
    from tunesmith.training import train

    overrides = [f"train.threads={threads}"]
    if quick:
        overrides += ["data.max_pieces=40", "train.max_minutes=1.5", "train.max_steps=300"]
    config = load_config(CONFIG, overrides)
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="restore-bench-") as scratch:
        run_dir = Path(out) if out is not None else Path(scratch) / "run"
        started = time.monotonic()
        result = train(config, run_dir, progress=False)
        train_seconds = time.monotonic() - started
        trained = load_run(run_dir)
        clips = held_out_clips(config, count=3 if quick else 8, seconds=10.0)
        rng = np.random.default_rng(0)
        rows = []
        for index, clean in enumerate(clips):
            damaged = add_white_noise(clean, SNR_DB, rng)
            restored = restore_samples(trained.model, trained.representation, damaged, window=config.data.seq_len)
            settings = {"n_fft": config.representation["n_fft"], "hop_length": config.representation["hop_length"]}
            rows.append((quality(clean, damaged, **settings), quality(clean, restored, **settings)))
            if index == 0 and not quick:
                picture(clean, damaged, restored, sr=config.data.sr, path=PICTURE)
    before = {k: float(np.mean([b[k] for b, _ in rows])) for k in rows[0][0]}
    after = {k: float(np.mean([a[k] for _, a in rows])) for k in rows[0][1]}
    return [
        {
            "model": "denoiser",
            "train_seconds": round(result.seconds, 1),
            "train_steps": result.steps,
            "prepare_and_train_seconds": round(train_seconds, 1),
            "clips": len(rows),
            "snr_before_db": round(before["snr_db"], 2),
            "snr_after_db": round(after["snr_db"], 2),
            "snr_gain_db": round(after["snr_db"] - before["snr_db"], 2),
            "spectral_convergence_before": round(before["spectral_convergence"], 4),
            "spectral_convergence_after": round(after["spectral_convergence"], 4),
            "threads": threads,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 pieces, 1.5 minutes of training, 3 clips")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for training and restoration")
    parser.add_argument("--out", type=Path, default=None, help="keep the trained run in this folder")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.quick, threads=args.threads, out=args.out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
