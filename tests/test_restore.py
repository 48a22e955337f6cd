"""Restoration: the damage the denoiser simulates, a trained denoiser repairing a noisy recording,
overlapping windows and chunks over any length, and ``tunesmith restore`` with its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.audio.io import read_audio, write_wav
from tunesmith.cli import main
from tunesmith.config import load_config
from tunesmith.errors import ConfigError
from tunesmith.models import build_model, model_config
from tunesmith.models.denoiser import add_clicks, add_noise, band_limit, drop_frames, window_power
from tunesmith.restore import quality, restore_frames, restore_samples, stft
from tunesmith.run import load_run
from tunesmith.training import train

from .test_representations import SR, chord_clip

N_FFT, HOP = 256, 64
TINY = [
    f"data.sr={SR}",
    "data.seq_len=32",
    "data.batch_size=8",
    "data.workers=1",
    "data.cache=false",
    "data.valid_fraction=0.2",
    "data.test_fraction=0.0",
    "representation.name=stft",
    f"representation.n_fft={N_FFT}",
    f"representation.hop_length={HOP}",
    "model.name=denoiser",
    "model.hidden_size=32",
    "model.num_layers=2",
    "model.kernel_size=3",
    "model.noise_prob=1.0",
    "model.click_prob=0.0",
    "model.band_prob=0.0",
    "model.dropout_prob=0.0",
    "train.epochs=5",
    "train.lr=0.003",
    "train.patience=0",
    "train.seed=0",
]


def noisy(samples: np.ndarray, snr_db: float, seed: int = 7) -> np.ndarray:
    """``samples`` plus white Gaussian noise at ``snr_db`` over the whole clip."""
    rng = np.random.default_rng(seed)
    power = float(np.mean(samples**2)) / 10 ** (snr_db / 10)
    return (samples + rng.standard_normal(len(samples)) * np.sqrt(power)).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small denoiser trained for 5 short epochs on eight 1.5-second harmonic clips."""
    root = tmp_path_factory.mktemp("restore")
    for seed in range(8):
        write_wav(root / "clips" / f"clip{seed}.wav", chord_clip(1.5, seed=seed).samples, sr=SR)
    config = load_config(None, [f"data.source={root / 'clips'}", *TINY])
    train(config, root / "run", progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A clean clip the denoiser never saw and the same clip at 10 dB SNR (2.3 s: no multiple
    of any window)."""
    root = tmp_path_factory.mktemp("held-out")
    clean = chord_clip(2.3, seed=42).samples
    return write_wav(root / "clean.wav", clean, sr=SR), write_wav(root / "noisy.wav", noisy(clean, 10.0), sr=SR)


# -- damage --------------------------------------------------------------------------------------------
def _magnitudes(seconds: float = 1.0) -> torch.Tensor:
    samples = torch.from_numpy(chord_clip(seconds, seed=3).samples)
    return stft(samples, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT).abs().T.unsqueeze(0)  # (1, T, D)


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_noise_has_the_asked_snr(snr_db: float) -> None:
    clean = _magnitudes().expand(64, -1, -1)  # 64 draws of one window
    mask = torch.ones(clean.shape[:2])
    generator = torch.Generator().manual_seed(0)
    damaged = add_noise(clean, mask, torch.full((64,), snr_db), generator=generator)
    # E|S + N|^2 = |S|^2 + E|N|^2: the added power is the noise power
    noise_power = window_power(damaged, mask).mean() - window_power(clean, mask).mean()
    measured = 10 * torch.log10(window_power(clean, mask).mean() / noise_power)
    assert float(measured) == pytest.approx(snr_db, abs=0.2)


def test_simulated_noise_matches_noise_added_to_the_waveform() -> None:
    """The magnitude-domain noise has the power per bin of the STFT of signal plus white noise."""
    clean = chord_clip(2.0, seed=5).samples
    real = stft(torch.from_numpy(noisy(clean, 5.0)), n_fft=N_FFT, hop_length=HOP, win_length=N_FFT).abs().T
    magnitude = stft(torch.from_numpy(clean), n_fft=N_FFT, hop_length=HOP, win_length=N_FFT).abs().T.unsqueeze(0)
    mask = torch.ones(magnitude.shape[:2])
    simulated = add_noise(magnitude, mask, torch.tensor([5.0]), generator=torch.Generator().manual_seed(1))[0]
    high = slice(N_FFT // 4, None)  # bins the harmonics do not reach: noise only
    assert float(simulated[:, high].square().mean() / real[:, high].square().mean()) == pytest.approx(1.0, abs=0.05)


def test_band_limit_removes_the_top_bins_only() -> None:
    clean = _magnitudes().expand(2, -1, -1)
    out = band_limit(clean, torch.tensor([40, 100]))
    assert (out[0, :, 40:] == 0).all() and (out[1, :, 100:] == 0).all()
    assert torch.equal(out[0, :, :40], clean[0, :, :40]) and torch.equal(out[1, :, :100], clean[1, :, :100])


def test_dropouts_silence_a_run_of_frames() -> None:
    clean = _magnitudes().expand(2, -1, -1)
    out = drop_frames(clean, torch.tensor([10, 0]), torch.tensor([5, 3]))
    assert (out[0, 10:15] == 0).all() and (out[1, :3] == 0).all()
    assert torch.equal(out[0, :10], clean[0, :10]) and torch.equal(out[0, 15:], clean[0, 15:])
    assert torch.equal(out[1, 3:], clean[1, 3:])


def test_clicks_are_broadband_bursts_in_a_few_frames() -> None:
    clean = _magnitudes()
    out = add_clicks(clean, torch.ones(clean.shape[:2]), torch.tensor([3]), 10.0, generator=torch.Generator())
    changed = (out != clean).any(-1)[0]
    assert 1 <= int(changed.sum()) <= 3
    frame = int(changed.nonzero()[0])
    assert float(out[0, frame].square().mean()) > 5 * float(clean[0, frame].square().mean())


def test_damage_and_validation_are_seeded() -> None:
    model = build_model(model_config({"name": "denoiser", "hidden_size": 8, "num_layers": 1}), 12, binary=False)
    batch = {"frames": torch.randn(3, 20, 12), "mask": torch.ones(3, 20)}
    first, second = model.validation_sums(batch), model.validation_sums(batch)
    assert all(torch.equal(first[k][0], second[k][0]) for k in first)
    noisy_mse, count = first["noisy_mse"]
    assert float(noisy_mse / count) > 0  # it was damaged
    a = model.damage(batch["frames"], batch["mask"], generator=torch.Generator().manual_seed(1))
    b = model.damage(batch["frames"], batch["mask"], generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("option", "value"),
    [("noise_prob", 1.5), ("kernel_size", 4), ("noise_snr_min", 30.0), ("band_min", 0.0), ("hidden_size", 0)],
)
def test_bad_denoiser_options(option: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"model.{option}"):
        model_config({"name": "denoiser", option: value})


def test_a_denoiser_keeps_the_stft_statistics_and_needs_stft_frames() -> None:
    from tunesmith.representation import build_representation

    rep = build_representation({"name": "stft", "n_fft": 22, "hop_length": 8, "floor_db": -70.0})
    rep.state = {"sr": SR, "mean": list(np.linspace(-60, -20, 12)), "std": list(np.linspace(5, 10, 12))}
    model = build_model(model_config({"name": "denoiser", "hidden_size": 8, "num_layers": 1}), 12, binary=False)
    model.adapt(rep)
    assert torch.allclose(model.mean, torch.linspace(-60, -20, 12)) and float(model.floor_db) == -70.0
    raw = np.linspace(-75, 0, 24, dtype=np.float32).reshape(2, 12)
    frames = torch.from_numpy(rep.normalize(np.maximum(raw, -70.0)))
    assert torch.allclose(model.to_magnitude(frames), torch.from_numpy(10 ** (np.maximum(raw, -70) / 20)), rtol=1e-4)
    assert torch.allclose(model.from_magnitude(model.to_magnitude(frames)), frames, atol=1e-4)
    with pytest.raises(ConfigError, match="representation.name: stft"):
        model.adapt(build_representation({"name": "mel", "n_mels": 12}))


# -- a trained denoiser ------------------------------------------------------------------------------------
def test_the_denoiser_raises_snr(trained: Path, held_out: tuple[Path, Path]) -> None:
    run = load_run(trained)
    last = (trained / "metrics.csv").read_text().splitlines()[-1].split(",")
    columns = (trained / "metrics.csv").read_text().splitlines()[0].split(",")
    row = dict(zip(columns, last, strict=True))
    # validation, under its fixed damage: the repaired frames are closer to the clean ones
    assert float(row["valid_sc"]) < float(row["valid_noisy_sc"]) / 3
    assert float(row["valid_mse"]) < float(row["valid_noisy_mse"]) and row["alert_no_repair"] == "0"
    clean, damaged = (read_audio(p, sr=SR).samples for p in held_out)
    restored = restore_samples(run.model, run.representation, damaged, window=32)
    assert restored.shape == damaged.shape
    before = quality(clean, damaged, n_fft=N_FFT, hop_length=HOP)
    after = quality(clean, restored, n_fft=N_FFT, hop_length=HOP)
    assert before["snr_db"] == pytest.approx(10.0, abs=0.3)
    assert after["snr_db"] > before["snr_db"] + 2.0
    assert after["spectral_convergence"] < before["spectral_convergence"]


def test_overlapping_windows_cover_any_length(trained: Path) -> None:
    model = load_run(trained).model
    frames = torch.randn(101, model.n_features)  # 101: no multiple of the window or its stride
    whole = restore_frames(model, frames, window=32, overlap=0.5, batch_size=2)
    assert whole.shape == frames.shape and torch.isfinite(whole).all()
    # the cross-faded windows give nearly what one window over all frames gives (the network
    # sees 7 frames; only the few frames next to each window's edge differ)
    single = restore_frames(model, frames, window=101)
    change = (single - frames).abs().mean()
    assert float((whole - single).abs().mean()) < 0.1 * float(change) and float(change) > 0.1
    short = restore_frames(model, frames[:7], window=32)  # shorter than one window
    assert short.shape == (7, model.n_features)


def test_chunks_cover_any_length(trained: Path, held_out: tuple[Path, Path]) -> None:
    run = load_run(trained)
    damaged = read_audio(held_out[1], sr=SR).samples[: SR + 777]
    whole = restore_samples(run.model, run.representation, damaged, window=32)
    chunked = restore_samples(run.model, run.representation, damaged, window=32, chunk_seconds=0.3)
    assert chunked.shape == whole.shape == damaged.shape
    assert quality(whole, chunked, n_fft=N_FFT, hop_length=HOP)["snr_db"] > 20.0


# -- the command line --------------------------------------------------------------------------------------
def test_restore_cli_prints_both_numbers(trained: Path, held_out: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    clean, damaged = held_out
    out = tmp_path / "deep" / "restored.wav"
    assert main(["restore", str(damaged), "--run", str(trained), "--out", str(out), "--reference", str(clean)]) == 0
    printed = capsys.readouterr().out
    assert "SNR 10." in printed and "spectral convergence" in printed
    numbers = printed.split("SNR ")[1].split(" dB")
    assert float(numbers[1].split("-> ")[1]) > float(numbers[0])
    restored = read_audio(out, sr=None)
    assert restored.sr == SR and len(restored.samples) == len(read_audio(damaged, sr=None).samples)


def test_restore_cli_one_line_errors(
    trained: Path, held_out: tuple[Path, Path], tmp_path: Path, capsys, monkeypatch
) -> None:
    from tunesmith import run as run_module

    clean, damaged = held_out
    loaded = []
    monkeypatch.setattr(run_module, "load_run", lambda *a, **k: loaded.append(a) or pytest.fail("run loaded"))

    def error(*argv: str) -> str:
        assert main(["restore", *argv]) == 2
        message = capsys.readouterr().err.strip()
        assert message.count("\n") == 0 and message.startswith("tunesmith: error:")
        return message

    out = str(tmp_path / "r.wav")
    assert "not found" in error(str(tmp_path / "missing.wav"), "--run", str(trained), "--out", out)
    assert ".wav" in error(str(damaged), "--run", str(trained), "--out", str(tmp_path / "r.mp3"))
    (tmp_path / "blocker").write_text("a file")
    assert "--out" in error(str(damaged), "--run", str(trained), "--out", str(tmp_path / "blocker" / "r.wav"))
    short = write_wav(tmp_path / "short.wav", np.zeros(SR // 2, np.float32), sr=SR)
    assert "--reference" in error(str(damaged), "--run", str(trained), "--out", out, "--reference", str(short))
    assert "--overlap" in error(str(damaged), "--run", str(trained), "--out", out, "--overlap", "1.0")
    assert not loaded  # every mistake was found before the run was loaded
    assert not (tmp_path / "r.wav").exists()


def test_restore_refuses_a_run_that_is_not_a_denoiser(
    held_out: tuple[Path, Path], tmp_path: Path, capsys, tmp_path_factory
) -> None:
    folder = tmp_path / "clips"
    for seed in range(4):
        write_wav(folder / f"c{seed}.wav", chord_clip(1.0, seed=seed).samples, sr=SR)
    gru = [o for o in TINY if not o.startswith("model.")] + ["model.name=gru", "model.hidden_size=8", "train.epochs=1"]
    train(load_config(None, [f"data.source={folder}", *gru]), tmp_path / "gru", progress=False)
    out = tmp_path / "r.wav"
    assert main(["restore", str(held_out[1]), "--run", str(tmp_path / "gru"), "--out", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert "model gru is not a denoiser" in message and message.count("\n") == 0
    assert not out.exists()


def test_generate_refuses_a_denoiser(trained: Path, tmp_path: Path, capsys) -> None:
    assert main(["generate", str(trained), "--out", str(tmp_path / "g")]) == 2
    assert "does not generate" in capsys.readouterr().err
