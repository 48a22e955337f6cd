"""Batched PyTorch mel / MFCC and fast Griffin-Lim against librosa, on real recordings, side by side.

    nice python benchmarks/audio_features.py --audio-dir ../shared/data/audio --json [--device cpu|cuda]

Every recording under ``--audio-dir`` is read mono at 22.05 kHz (reading is not timed). Then:

- ``mel`` / ``mfcc``: librosa one recording at a time (``melspectrogram``, ``mfcc``) against
  :func:`~tunesmith.audio.features.batch_mel_spectrograms` / ``batch_mfccs`` over all
  recordings at once, in float64 (the default here) and in float32. Torch times include moving
  the samples to the device and the features back to NumPy. ``max_abs_error_db`` is the largest
  difference of the dB mel spectrogram (``top_db=None``) from librosa's over every bin of every
  recording; ``max_abs_error_db_within_80db`` only over bins within 80 dB of the recording's peak
  (what ``top_db=80`` keeps). MFCC errors are in MFCC units (librosa's, top_db=80).
- ``griffin_lim``: 32 iterations, momentum 0.99, random start phases, one recording at a time,
  :func:`~tunesmith.audio.inversion.griffin_lim` against ``librosa.griffinlim``, from the same
  STFT magnitudes; ``spectral_convergence`` is the mean over recordings of
  ``||S - S_est||_F / ||S||_F``; ``realtime_factor`` is seconds of audio per second of compute.

Each timing is the best of ``--repeats`` runs after one warm-up run. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

SR = 22050
SETTINGS = dict(n_fft=2048, hop_length=512, n_mels=128)
N_MFCC = 20


def best_time(fn, *, repeats: int, device: str) -> tuple[float, object]:
    """``(fastest wall time of repeats calls after a warm-up, last result)``."""
    result = fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        result = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times), result


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def mel_benchmark(signals: list[np.ndarray], *, device: str, repeats: int) -> dict:
    import librosa

    from tunesmith.audio.features import batch_mel_spectrograms

    def with_librosa():
        return [librosa.feature.melspectrogram(y=y, sr=SR, **SETTINGS) for y in signals]

    lib_seconds, lib = best_time(with_librosa, repeats=repeats, device="cpu")
    lib_db = [librosa.power_to_db(m, top_db=None) for m in lib]
    out = {"librosa_seconds": lib_seconds}
    for dtype in (np.float64, np.float32):

        def with_torch(dtype=dtype):
            mels = batch_mel_spectrograms([y.astype(dtype) for y in signals], sr=SR, device=device, **SETTINGS)
            return [m.cpu().numpy() for m in mels]

        seconds, ours = best_time(with_torch, repeats=repeats, device=device)
        errors, near = [], []
        for ref, m in zip(lib_db, ours):
            err = np.abs(librosa.power_to_db(m, top_db=None) - ref)
            errors.append(err.max())
            near.append(err[ref > ref.max() - 80.0].max())
        name = np.dtype(dtype).name
        out[name] = {
            "seconds": seconds,
            "speedup_vs_librosa": lib_seconds / seconds,
            "max_abs_error_db": float(max(errors)),
            "max_abs_error_db_within_80db": float(max(near)),
        }
    return out


def mfcc_benchmark(signals: list[np.ndarray], *, device: str, repeats: int) -> dict:
    import librosa

    from tunesmith.audio.features import batch_mfccs

    def with_librosa():
        return [librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC, **SETTINGS) for y in signals]

    lib_seconds, lib = best_time(with_librosa, repeats=repeats, device="cpu")
    out = {"librosa_seconds": lib_seconds}
    for dtype in (np.float64, np.float32):

        def with_torch(dtype=dtype):
            coeffs = batch_mfccs([y.astype(dtype) for y in signals], sr=SR, n_mfcc=N_MFCC, device=device, **SETTINGS)
            return [c.cpu().numpy() for c in coeffs]

        seconds, ours = best_time(with_torch, repeats=repeats, device=device)
        error = max(float(np.abs(a - b).max()) for a, b in zip(ours, lib))
        out[np.dtype(dtype).name] = {
            "seconds": seconds,
            "speedup_vs_librosa": lib_seconds / seconds,
            "max_abs_error": error,
        }
    return out


def griffin_lim_benchmark(
    signals: list[np.ndarray], *, device: str, repeats: int, n_iter: int, momentum: float
) -> dict:
    import librosa

    from tunesmith.audio.inversion import griffin_lim
    from tunesmith.metrics.signal import spectral_convergence

    hop = SETTINGS["hop_length"]
    mags = [np.abs(librosa.stft(y, n_fft=SETTINGS["n_fft"], hop_length=hop)) for y in signals]
    on_device = [torch.from_numpy(S).to(device) for S in mags]

    def with_librosa():
        return [
            librosa.griffinlim(S, n_iter=n_iter, momentum=momentum, hop_length=hop, length=len(y), random_state=0)
            for S, y in zip(mags, signals)
        ]

    def with_torch():
        return [
            griffin_lim(S, n_iter=n_iter, momentum=momentum, hop_length=hop, length=len(y), seed=0)
            for S, y in zip(on_device, signals)
        ]

    lib_seconds, lib = best_time(with_librosa, repeats=max(1, repeats - 1), device="cpu")
    seconds, ours = best_time(with_torch, repeats=repeats, device=device)

    def convergence(outputs):
        scores = [
            spectral_convergence(S, np.abs(librosa.stft(x, n_fft=SETTINGS["n_fft"], hop_length=hop)))
            for S, x in zip(mags, outputs)
        ]
        return float(np.mean(scores))

    audio_seconds = sum(len(y) for y in signals) / SR
    return {
        "n_iter": n_iter,
        "momentum": momentum,
        "seconds": seconds,
        "librosa_seconds": lib_seconds,
        "speedup_vs_librosa": lib_seconds / seconds,
        "spectral_convergence": convergence(ours),
        "librosa_spectral_convergence": convergence(lib),
        "realtime_factor": audio_seconds / seconds,
        "librosa_realtime_factor": audio_seconds / lib_seconds,
    }


def run_benchmark(
    audio_dir: str, *, device: str, repeats: int = 3, n_iter: int = 32, momentum: float = 0.99, limit: int | None = None
) -> dict:
    """Read the recordings and run the three comparisons; return the JSON fields described above."""
    import librosa

    from tunesmith.audio.io import read_audio_folder

    clips, skipped = read_audio_folder(audio_dir, sr=SR, limit=limit)
    signals = [c.samples for c in clips]
    return {
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__, "librosa": librosa.__version__, "numpy": np.__version__},
        "recordings": len(signals),
        "skipped": skipped,
        "audio_seconds": sum(len(y) for y in signals) / SR,
        "settings": {"sr": SR, **SETTINGS, "n_mfcc": N_MFCC, "center": True, "pad_mode": "constant"},
        "mel": mel_benchmark(signals, device=device, repeats=repeats),
        "mfcc": mfcc_benchmark(signals, device=device, repeats=repeats),
        "griffin_lim": griffin_lim_benchmark(signals, device=device, repeats=repeats, n_iter=n_iter, momentum=momentum),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audio-dir", required=True, help="folder of recordings (read recursively)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default: cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement, best kept (default: 3)")
    parser.add_argument("--n-iter", type=int, default=32, help="Griffin-Lim iterations (default: 32)")
    parser.add_argument("--momentum", type=float, default=0.99, help="Griffin-Lim momentum (default: 0.99)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N files, for a quick try")
    parser.add_argument("--json", action="store_true", help="print one JSON object (the only output format)")
    args = parser.parse_args()
    result = run_benchmark(
        args.audio_dir,
        device=args.device,
        repeats=args.repeats,
        n_iter=args.n_iter,
        momentum=args.momentum,
        limit=args.limit,
    )
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
