"""audio.plots and audio.commands: PNGs of recordings, and the resynth / plot subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tunesmith.audio.commands import plot_file, register, resynth_file
from tunesmith.audio.plots import KINDS, plot_audio
from tunesmith.errors import ConfigError, DataError, TunesmithError

SR = 22050


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small FFTs on a shared 2-core machine: one thread avoids OpenMP spin-waiting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def wav(tmp_path) -> Path:
    t = np.arange(SR) / SR
    y = 0.4 * np.sin(2 * np.pi * 261.63 * t) * np.exp(-2 * t)
    path = tmp_path / "note.wav"
    sf.write(path, y.astype(np.float32), SR)
    return path


def read_png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    assert path.is_file() and path.stat().st_size > 1000
    return imread(str(path))


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_from_file_and_samples(tmp_path, wav, kind):
    png = plot_audio(wav, tmp_path / "plots" / f"{kind}.png", kind=kind, title="a note")
    image = read_png(png)
    assert image.shape[:2] == (400, 1000) and image[..., :3].std() > 0.05
    samples = sf.read(wav, dtype="float32")[0]
    png2 = plot_audio(samples, tmp_path / f"{kind}-samples.png", kind=kind, sr=SR)
    assert read_png(png2).shape[:2] == (400, 1000)
    assert not list(tmp_path.glob("**/*.tmp"))  # atomic writes leave nothing behind


def test_plot_errors(tmp_path, wav):
    with pytest.raises(ConfigError, match="unknown plot kind 'sonogram'"):
        plot_audio(wav, tmp_path / "x.png", kind="sonogram")
    with pytest.raises(ConfigError, match="sr="):
        plot_audio(np.zeros(100), tmp_path / "x.png")
    with pytest.raises(DataError, match="shape"):
        plot_audio(np.zeros((2, 100)), tmp_path / "x.png", sr=SR)
    with pytest.raises(DataError, match="file not found"):
        plot_audio(tmp_path / "none.wav", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tunesmith")
    register(p.add_subparsers(dest="command", required=True))
    return p


def test_resynth_command(tmp_path, wav, capsys):
    args = parser().parse_args(
        ["resynth", str(wav), "--via", "stft", "--out", str(tmp_path / "r.wav"), "--n-iter", "8"]
    )
    args.func(args)
    out = capsys.readouterr().out
    assert "spectral convergence" in out and "log-spectral distance" in out
    y, sr = sf.read(tmp_path / "r.wav")
    assert sr == SR and len(y) == SR
    quality = resynth_file(wav, tmp_path / "m.wav", via="mel", n_iter=8)
    assert 0 < quality["spectral_convergence"] < 1 and quality["seconds"] == pytest.approx(1.0)


def test_plot_command(tmp_path, wav, capsys):
    args = parser().parse_args(["plot", str(wav), "--kind", "mel", "--out", str(tmp_path / "m.png")])
    args.func(args)
    assert str(tmp_path / "m.png") in capsys.readouterr().out
    read_png(tmp_path / "m.png")


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda d, w: plot_file(w, d / "x.png", kind="nope"), "unknown --kind 'nope'"),
        (lambda d, w: plot_file(d / "missing.wav", d / "x.png"), "file not found"),
        (lambda d, w: plot_file(w, d / "x.jpg"), "must be a .png"),
        (lambda d, w: resynth_file(w, d / "x.wav", via="wavelet"), "unknown --via"),
        (lambda d, w: resynth_file(w, d / "x.wav", n_iter=0), "--n-iter"),
        (lambda d, w: resynth_file(w, d / "x.mp3"), "must be a .wav"),
        (lambda d, w: resynth_file(d / "missing.wav", d / "x.wav"), "file not found"),
    ],
)
def test_command_arguments_checked_first(tmp_path, wav, call, message):
    with pytest.raises(TunesmithError, match=message) as info:
        call(tmp_path, wav)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.glob("x.*"))


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["resynth", "--help"])
    text = capsys.readouterr().out
    assert "(default: mel)" in text and "(default: 32)" in text
