"""plots: PNGs of loss curves and piano rolls, drawn headless."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunesmith.errors import ConfigError, DataError
from tunesmith.plots import note_name, plot_loss_curves, plot_piano_roll

HEADER = "epoch,step,train_loss,valid_nll,lr,seconds\n"


def read_png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    assert path.is_file() and path.stat().st_size > 1000
    return imread(str(path))


def test_note_names():
    assert [note_name(p) for p in (21, 60, 61, 69, 108)] == ["A0", "C4", "C#4", "A4", "C8"]


def test_loss_curves_png(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text(
        HEADER + "1,10,2.5,2.7,0.001,1.0\n2,20,2.0,,0.001,2.0\n3,30,1.8,2.1,0.001,3.0\n4,40,1.6,2.2,0.001,4.0\n"
    )
    png = plot_loss_curves(csv, tmp_path / "plots" / "loss.png", title="run")
    assert png == tmp_path / "plots" / "loss.png"
    image = read_png(png)
    assert image.shape[:2] == (500, 800)
    assert image[..., :3].std() > 0.05  # something was drawn


def test_loss_curves_without_validation(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text(HEADER + "1,10,2.5,,0.001,1.0\n2,20,2.0,,0.001,2.0\n")
    read_png(plot_loss_curves(csv, tmp_path / "loss.png"))


@pytest.mark.parametrize(
    "text, reason",
    [
        (HEADER, "no rows"),
        ("", "missing column"),
        ("epoch,step\n1,2\n", "missing column"),
        (HEADER + "1,10,abc,2.0,0.001,1\n", "not a number"),
        (HEADER + "1,10,,,0.001,1\n", "no train_loss"),
    ],
    ids=["header-only", "empty-file", "no-loss-columns", "not-a-number", "no-values"],
)
def test_loss_curves_bad_csv(tmp_path, text, reason):
    csv = tmp_path / "metrics.csv"
    csv.write_text(text)
    with pytest.raises(DataError, match=reason):
        plot_loss_curves(csv, tmp_path / "loss.png")
    assert not (tmp_path / "loss.png").exists()


def test_loss_curves_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        plot_loss_curves(tmp_path / "nope.csv", tmp_path / "loss.png")


def test_piano_roll_binary_with_onsets(tmp_path, rng):
    roll = (rng.random((64, 48)) > 0.85).astype(np.uint8)
    onsets = roll.copy()
    onsets[1:] &= 1 - roll[:-1]
    png = plot_piano_roll(roll, tmp_path / "roll.png", lowest_pitch=36, onsets=onsets, title="piece")
    assert read_png(png).shape[:2] == (500, 1000)


def test_piano_roll_probabilities_in_seconds(tmp_path, rng):
    png = plot_piano_roll(rng.random((32, 88)), tmp_path / "probs.png", seconds_per_step=0.125)
    assert read_png(png).shape[:2] == (500, 1000)


def test_piano_roll_with_no_frames(tmp_path):
    read_png(plot_piano_roll(np.zeros((0, 12)), tmp_path / "empty.png", lowest_pitch=60))


@pytest.mark.parametrize(
    "roll, onsets, match",
    [
        (np.zeros(10), None, r"shape=\(T, K\)"),
        (np.zeros((2, 3, 4)), None, r"shape=\(T, K\)"),
        (np.zeros((10, 0)), None, r"shape=\(T, K\)"),
        (np.zeros((10, 12)), np.zeros((10, 13)), r"shape=\(T, K\)=\(10, 12\)"),
        (np.full((4, 12), 2.0), None, r"\[0, 1\]"),
        (np.zeros((4, 100)), None, "outside MIDI"),
    ],
    ids=["1d", "3d", "no-keys", "onsets-shape", "out-of-range", "too-many-keys"],
)
def test_piano_roll_bad_input(tmp_path, roll, onsets, match):
    with pytest.raises(ConfigError, match=match):
        plot_piano_roll(roll, tmp_path / "roll.png", lowest_pitch=40, onsets=onsets)
    assert not (tmp_path / "roll.png").exists()


def test_plot_replaces_existing_file_atomically(tmp_path):
    png = tmp_path / "roll.png"
    png.write_bytes(b"old")
    plot_piano_roll(np.eye(8), png, lowest_pitch=60)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["roll.png"]


def test_loss_curves_plot_whatever_columns_arrive(tmp_path):
    """A model with other named numbers (a GAN's two players, say) gets its own curves."""
    csv = tmp_path / "metrics.csv"
    csv.write_text(
        "epoch,step,train_loss_g,train_loss_d,valid_accuracy,quality/mean_overlap\n"
        "1,10,0.9,0.7,0.8,0.5\n2,20,0.8,0.69,0.6,\n3,30,0.85,0.71,0.55,0.7\n"
    )
    image = read_png(plot_loss_curves(csv, tmp_path / "gan.png", best="valid_accuracy"))
    assert image[..., :3].std() > 0.05
    plain = read_png(plot_loss_curves(csv, tmp_path / "default.png"))  # marks the first valid_ column
    assert plain.shape == image.shape
