"""``tunesmith interpolate`` end to end on a tiny autoencoder run, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_piece
from tunesmith.cli import main
from tunesmith.config import load_config
from tunesmith.io import write_midi
from tunesmith.training import train

SETTINGS = [
    "data.seq_len=16",
    "data.batch_size=4",
    "data.valid_fraction=0.25",
    "data.test_fraction=0.0",
    "representation.step=eighth",
    "model.hidden_size=16",
    "train.epochs=2",
    "train.lr=0.01",
    "train.patience=0",
    "train.threads=1",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A folder of tiny MIDI files, an lstm-vae run and an lstm run trained on it for two epochs."""
    root = tmp_path_factory.mktemp("interpolate")
    folder = root / "music"
    for seed in range(6):
        write_midi(make_piece(seed, beats=24), folder / f"tune{seed}.mid")
    out = {"music": folder}
    for name, extra in (("lstm-vae", ["model.latent_size=8", "model.kl_anneal_steps=10"]), ("lstm", [])):
        config = load_config(None, [f"data.source={folder}", f"model.name={name}", *SETTINGS, *extra])
        train(config, root / name, progress=False)
        out[name] = root / name
    return out


def test_interpolate_writes_every_step(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    a, b = runs["music"] / "tune0.mid", runs["music"] / "tune3.mid"
    out = tmp_path / "interp"
    code = main(["interpolate", str(runs["lstm-vae"]), str(a), str(b), "--steps", "3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    names = [f"interp-{i:02d}" for i in range(3)]
    for name in names:
        for suffix in (".mid", ".wav", ".png"):
            assert (out / f"{name}{suffix}").stat().st_size > 0
            assert str(out / f"{name}{suffix}") in printed
    assert not (out / "interp-03.mid").exists()
    # again into the same folder: refused without --overwrite, replaced with it
    again = ["interpolate", str(runs["lstm-vae"]), str(a), str(b), "--steps", "3", "--out", str(out), "--no-audio"]
    assert main(again) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*again, "--overwrite"]) == 0


def test_interpolation_ends_decode_their_own_phrases(runs: dict[str, Path]) -> None:
    """Through the library: interpolating a piece with itself gives the same phrase at every step."""
    import numpy as np

    from tunesmith.latent import encode_file, interpolate
    from tunesmith.run import load_run

    run = load_run(runs["lstm-vae"])
    z, window, _ = encode_file(run, runs["music"] / "tune1.mid")
    assert window.shape == (16, run.representation.n_features) and z.shape == (8,)
    path = interpolate(run.model, z, z, steps=3, length=16)
    assert np.array_equal(path[0], path[1]) and np.array_equal(path[1], path[2])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{lstm}", "{a}", "{b}", "--steps", "3"], "model lstm has no latent space; interpolate needs an autoencoder"),
        (["{vae}", "{tmp}/missing.mid", "{b}", "--steps", "3"], "missing.mid"),
        (["{vae}", "{a}", "{tmp}/notes.txt", "--steps", "3"], "unsupported file type '.txt'"),
        (["{vae}", "{a}", "{b}", "--steps", "1"], "--steps must be at least 2"),
        (["{vae}", "{a}", "{tmp}/sound.wav", "--steps", "3"], "this run models notes"),
        (["{tmp}/no-run", "{a}", "{b}", "--steps", "3"], "run directory not found"),
    ],
)
def test_errors_are_one_line(runs: dict[str, Path], args: list[str], message: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("not music")
    (tmp_path / "sound.wav").write_bytes(b"RIFF")
    fill = {
        "lstm": runs["lstm"],
        "vae": runs["lstm-vae"],
        "a": runs["music"] / "tune0.mid",
        "b": runs["music"] / "tune1.mid",
        "tmp": tmp_path,
    }
    argv = ["interpolate", *[x.format(**fill) for x in args], "--out", str(tmp_path / "out"), "--no-audio"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "out").glob("interp-*"))  # nothing written


def test_out_must_be_a_writable_folder(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    a, b = runs["music"] / "tune0.mid", runs["music"] / "tune1.mid"
    code = main(["interpolate", str(runs["lstm-vae"]), str(a), str(b), "--out", str(tmp_path / "file")])
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err


def test_generate_and_evaluate_work_on_an_autoencoder_run(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    """Sampling from the prior past the phrase length (16 frames), and the run's own metrics."""
    out = tmp_path / "sampled"
    argv = ["generate", str(runs["lstm-vae"]), "--out", str(out), "--num", "2", "--length", "40", "--no-audio"]
    assert main(argv) == 0
    assert sorted(p.name for p in out.glob("*.mid")) == ["piece-01.mid", "piece-02.mid"]
    assert main(["evaluate", str(runs["lstm-vae"]), "--split", "valid", "--json"]) == 0
    printed = capsys.readouterr().out
    assert "elbo_bound" in printed and "recon_nll" in printed
