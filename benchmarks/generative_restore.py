"""Restoration benchmark: train the denoiser briefly on the built-in audio corpus, then repair
held-out chorales damaged with white noise at 10 dB SNR and measure the gain in the waveform.

    python benchmarks/generative_restore.py [--quick] [--threads N] [--out DIR]

Trains ``configs/audio/denoiser.yaml`` (``--quick``: fewer pieces and minutes) on
``bach-chorales-audio`` (the first build of that corpus renders the chorales, a few minutes, then
it is cached). The held-out clips are ``seconds``-long excerpts of the test split's recordings;
each gets its own seeded white noise at 10 dB SNR (the target's case, the top-level keys). The
same clips are also damaged, one kind at a time, with clicks (bursts of noise one hop long, 10 dB
above the clip's power, one a second), band-limiting (nothing above a quarter of the sample
rate) and dropouts (silent gaps of up to 8 hops, one every 2 s): ``by_damage`` gives each kind's
numbers, with two ceilings that need no model (``ceiling_*``): the clean magnitudes with the
damaged phase (the best that repairing magnitudes alone can do), and the clean magnitudes with
the phase filled by Griffin-Lim wherever the damage took away more than half the magnitude (6 dB)
and kept elsewhere (what repairing magnitudes plus filling the phase of what was lost can do).
SNR and spectral convergence are averaged over the clips. Writes
``docs/images/restore.png`` (spectrograms of one clip with white noise: clean, damaged,
restored) and prints one JSON list. Target: a gain of at least 6 dB on white noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "audio" / "denoiser.yaml"
PICTURE = ROOT / "docs" / "images" / "restore.png"
SNR_DB = 10.0


def add_white_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``samples`` ``shape=(n,)`` plus white Gaussian noise at ``snr_db`` over the clip's power."""
    power = float(np.mean(samples**2)) / 10 ** (snr_db / 10)
    return (samples + rng.standard_normal(len(samples)) * np.sqrt(power)).astype(np.float32)


def add_clicks(samples: np.ndarray, rng: np.random.Generator, *, per_second: float, sr: int, hop: int) -> np.ndarray:
    """Bursts of white noise one hop long, ``per_second`` of them on average at random places,
    each 10 dB above the clip's mean power (the denoiser's ``click_db``)."""
    out = samples.astype(np.float32).copy()
    power = float(np.mean(samples**2)) * 10.0
    for start in rng.integers(0, max(len(out) - hop, 1), int(round(per_second * len(out) / sr))):
        out[start : start + hop] += rng.standard_normal(hop).astype(np.float32) * np.sqrt(power)
    return out


def band_limit(samples: np.ndarray, *, cutoff_hz: float, sr: int) -> np.ndarray:
    """Everything at or above ``cutoff_hz`` removed (its FFT bins set to 0)."""
    spectrum = np.fft.rfft(samples)
    spectrum[np.fft.rfftfreq(len(samples), 1.0 / sr) >= cutoff_hz] = 0.0
    return np.fft.irfft(spectrum, n=len(samples)).astype(np.float32)


def drop_out(samples: np.ndarray, rng: np.random.Generator, *, per_second: float, sr: int, longest: int) -> np.ndarray:
    """Silent gaps of 1 to ``longest`` samples, ``per_second`` of them on average."""
    out = samples.astype(np.float32).copy()
    for start in rng.integers(0, len(out), int(round(per_second * len(out) / sr))):
        out[start : start + int(rng.integers(1, longest + 1))] = 0.0
    return out


def damages(sr: int, hop: int) -> dict[str, Any]:
    """The kinds of damage measured, by name: ``(clean, rng) -> damaged``, each within what the
    denoiser trains on (``configs/audio/denoiser.yaml``: clicks one frame long at 10 dB, a
    cutoff above a quarter of the band, dropouts of up to 8 frames)."""
    return {
        "white_noise": lambda x, rng: add_white_noise(x, SNR_DB, rng),
        "clicks": lambda x, rng: add_clicks(x, rng, per_second=1.0, sr=sr, hop=hop),
        "band_limit": lambda x, rng: band_limit(x, cutoff_hz=sr / 4, sr=sr),
        "dropouts": lambda x, rng: drop_out(x, rng, per_second=0.5, sr=sr, longest=8 * hop),
    }


FILL_ITERATIONS = 100


def ceilings(clean: np.ndarray, damaged: np.ndarray, *, n_fft: int, hop_length: int) -> dict[str, np.ndarray]:
    """Two model-free repairs of ``damaged`` from the clean magnitudes, ``shape=(n,)`` each:
    ``damaged_phase`` (magnitudes only) and ``filled_phase`` (Griffin-Lim's phase, the damaged
    phase held fixed, wherever the damaged magnitude is below half the clean one)."""
    import torch

    from tunesmith.restore import istft, stft

    settings = {"n_fft": n_fft, "hop_length": hop_length, "win_length": n_fft}
    clean_spectrum = stft(torch.as_tensor(clean, dtype=torch.float32), **settings)
    damaged_spectrum = stft(torch.as_tensor(damaged, dtype=torch.float32), **settings)
    magnitude, known = clean_spectrum.abs(), damaged_spectrum.angle()
    lost = magnitude > 2.0 * damaged_spectrum.abs()
    phase = known
    for _ in range(FILL_ITERATIONS):
        estimate = istft(torch.polar(magnitude, phase), **settings, length=len(damaged))
        phase = torch.where(lost, stft(estimate, **settings).angle(), known)
    return {
        "damaged_phase": istft(torch.polar(magnitude, known), **settings, length=len(damaged)).numpy(),
        "filled_phase": istft(torch.polar(magnitude, phase), **settings, length=len(damaged)).numpy(),
    }


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
        settings = {"n_fft": config.representation["n_fft"], "hop_length": config.representation["hop_length"]}
        measured: dict[str, list] = {}
        for kind, damage in damages(config.data.sr, settings["hop_length"]).items():
            rng = np.random.default_rng(0)
            rows = measured.setdefault(kind, [])
            for index, clean in enumerate(clips):
                damaged = damage(clean, rng)
                restored = restore_samples(trained.model, trained.representation, damaged, window=config.data.seq_len)
                bounds = ceilings(clean, damaged, **settings)
                rows.append(
                    (
                        quality(clean, damaged, **settings),
                        quality(clean, restored, **settings),
                        quality(clean, bounds["damaged_phase"], **settings),
                        quality(clean, bounds["filled_phase"], **settings),
                    )
                )
                if kind == "white_noise" and index == 0 and not quick:
                    picture(clean, damaged, restored, sr=config.data.sr, path=PICTURE)

    def mean(rows: list, side: int) -> dict[str, float]:
        return {k: float(np.mean([row[side][k] for row in rows])) for k in rows[0][side]}

    by_damage = {}
    for kind, rows in measured.items():
        before, after, magnitudes, filled = (mean(rows, side) for side in range(4))
        by_damage[kind] = {
            "snr_before_db": round(before["snr_db"], 2),
            "snr_after_db": round(after["snr_db"], 2),
            "snr_gain_db": round(after["snr_db"] - before["snr_db"], 2),
            "spectral_convergence_before": round(before["spectral_convergence"], 4),
            "spectral_convergence_after": round(after["spectral_convergence"], 4),
            "ceiling_damaged_phase_snr_db": round(magnitudes["snr_db"], 2),
            "ceiling_damaged_phase_spectral_convergence": round(magnitudes["spectral_convergence"], 4),
            "ceiling_filled_phase_snr_db": round(filled["snr_db"], 2),
            "ceiling_filled_phase_spectral_convergence": round(filled["spectral_convergence"], 4),
        }
    before, after = mean(measured["white_noise"], 0), mean(measured["white_noise"], 1)
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
            "by_damage": by_damage,
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
