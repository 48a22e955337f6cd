"""The command line end to end on a tiny dataset: train, generate (with a primer, past the
training window), render, models, and clear errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import yaml

from tunesmith.cli import main
from tunesmith.io import read_piece

from .test_training import TINY, TINY_LSTM


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))


def sets(*items: str) -> list[str]:
    return [a for item in items for a in ("--set", item)]


def test_train_generate_render_end_to_end(midi_folder: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(f'[data]\nsource = "{midi_folder}"\n\n[train]\nepochs = 2\n')
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--quiet", *sets(*TINY, *TINY_LSTM)]) == 0
    assert "best validation NLL" in capsys.readouterr().out

    out = tmp_path / "gen"
    primer = midi_folder / "a" / "tune1.mid"
    sampling = "--num 2 --length 200 --temperature 0.8 --top-p 0.9 --seed 3".split()
    generate = ["generate", str(run), *sampling, "--primer", str(primer)]
    assert main([*generate, "--out", str(out)]) == 0
    for name in ("piece-01", "piece-02"):
        assert (out / f"{name}.png").stat().st_size > 1000
        audio, rate = soundfile.read(out / f"{name}.wav")
        generated = read_piece(out / f"{name}.mid")
        primer_piece = read_piece(primer)
        # 200 new eighth-note frames after the primer: far past the 16-frame training window.
        assert generated.end <= primer_piece.end + 100 + 1e-6
        assert len(audio) / rate > 1.0
        primer_start = sorted((n.time, n.pitch) for n in primer_piece.notes if n.time < 4)
        assert primer_start == sorted((n.time, n.pitch) for n in generated.notes if n.time < 4)

    settings = yaml.safe_load((out / "generation.yaml").read_text())
    assert settings["temperature"] == 0.8 and settings["seed"] == 3 and settings["primer"] == str(primer)
    before = (out / "piece-01.mid").read_bytes()
    assert main(["generate", str(run), "--out", str(out), "--num", "1", "--length", "8", "--no-audio"]) == 2
    assert "already holds" in capsys.readouterr().err and (out / "piece-01.mid").read_bytes() == before
    assert (
        main(["generate", str(run), "--out", str(out), "--num", "1", "--length", "8", "--no-audio", "--overwrite"]) == 0
    )
    (out / "piece-01.mid").write_bytes(before)

    again = tmp_path / "gen2"
    assert main([*generate, "--out", str(again), "--no-audio"]) == 0
    assert (again / "piece-01.mid").read_bytes() == (out / "piece-01.mid").read_bytes()  # the seed decides
    assert not (again / "piece-01.wav").exists()

    wav = tmp_path / "render.wav"
    assert main(["render", str(out / "piece-01.mid"), "--out", str(wav), "--sample-rate", "22050"]) == 0
    assert soundfile.info(wav).samplerate == 22050


def test_models_lists_every_family(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("rnn", "gru", "lstm"):
        assert any(line.startswith(name) for line in out.splitlines())
    for name in ("pianoroll", "mel", "mfcc", "stft", "gaussian, laplace, mixture"):
        assert name in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "{tmp}/no-run", "--out", "{tmp}/x"], "run directory not found"),
        (["render", "{tmp}/missing.mid", "--out", "{tmp}/x.wav"], "missing.mid"),
        (["train", "{tmp}/missing.yaml", "--out", "{tmp}/r"], "config file not found"),
        (["train", "{tmp}/bad.yaml", "--out", "{tmp}/r"], "unknown config key 'train.speed'"),
        (["train", "{tmp}/bad.yaml", "--out", "{tmp}/r", "--set", "train.speed=1"], "unknown config key"),
        (["train", "{tmp}/bad.yaml", "--out", "{tmp}/r", "--set", "oops"], "not of the form key=value"),
    ],
)
def test_errors_are_one_clear_line(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.yaml").write_text("train:\n  speed: 11\n")
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_generate_refuses_a_checkpoint_of_something_else(tmp_path: Path, capsys) -> None:
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "best.pt").write_bytes(b"\x00" * 64)
    assert main(["generate", str(tmp_path / "run"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'run' / 'checkpoints' / 'best.pt'}: not a readable" in err and len(err.splitlines()) == 1


def test_module_entry_point_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "tunesmith", "models"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "lstm" in done.stdout


def test_demo_refuses_to_overwrite_an_earlier_demo(tmp_path: Path, capsys) -> None:
    (tmp_path / "demo" / "run").mkdir(parents=True)
    (tmp_path / "demo" / "run" / "keep.txt").write_text("earlier work")
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    assert "already holds a demo run" in capsys.readouterr().err
    assert (tmp_path / "demo" / "run" / "keep.txt").read_text() == "earlier work"


def test_generate_rejects_bad_sampling_values_before_loading_the_run(tmp_path: Path, capsys) -> None:
    for flags, message in [
        (["--num", "0"], "argument --num: must be at least 1, got 0"),
        (["--length", "-3"], "argument --length: must be at least 1, got -3"),
        (["--temperature", "0"], "argument --temperature: must be a finite number above 0"),
        (["--temperature", "inf"], "argument --temperature: must be a finite number above 0"),
        (["--top-p", "1.5"], "argument --top-p: must be above 0 and at most 1"),
        (["--program", "-1"], "argument --program: must be a General MIDI program 0..127"),
        (["--primer", str(tmp_path / "nope.mid")], "nope.mid: file not found"),
    ]:
        code = main(["generate", str(tmp_path / "no-run"), "--out", str(tmp_path / "o"), "--no-audio", *flags])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err and len(err.splitlines()) == 1
        assert not (tmp_path / "o").exists()
