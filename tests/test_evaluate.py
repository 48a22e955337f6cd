"""`tunesmith evaluate` and `benchmarks/polyphonic.py` on tiny synthetic piano-roll benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from tunesmith.cli import main
from tunesmith.evaluation import frame_nll
from tunesmith.io import read_benchmark
from tunesmith.run import load_run

from .test_training import TINY, TINY_LSTM

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["data.seq_len=16", "data.batch_size=4", "model.hidden_size=16", "train.epochs=2", "train.device=cpu"]


def sets(*items: str) -> list[str]:
    return [a for item in items for a in ("--set", item)]


@pytest.fixture
def benchmark_file(tmp_path: Path, rng: np.random.Generator) -> Path:
    """A .mat in the benchmark layout: arpeggios over a random walk, so there is something to learn."""

    def sequences(count: int) -> np.ndarray:
        out = np.empty((1, count), dtype=object)
        for i in range(count):
            length = int(rng.integers(6, 30))
            root = 40 + np.cumsum(rng.integers(-2, 3, length)) % 12
            roll = np.zeros((length, 88), np.uint8)
            for offset in (0, 4, 7):
                roll[np.arange(length), root + offset] = 1
            out[0, i] = roll
        return out

    path = tmp_path / "toy.mat"
    scipy.io.savemat(path, {"traindata": sequences(12), "validdata": sequences(4), "testdata": sequences(5)})
    return path


@pytest.mark.parametrize("model", ["lstm", "lstm-nade"])
def test_evaluate_prints_the_standard_score(model: str, benchmark_file: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    config = ROOT / "configs" / "polyphonic" / f"{model}.yaml"
    argv = ["train", str(config), "--out", str(run), "--quiet", *sets(f"data.source={benchmark_file}", *QUICK)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(benchmark_file), "--split", "test", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    test = read_benchmark(benchmark_file)["test"]
    assert result["split"] == "test" and result["model"] == model
    assert result["sequences"] == 5 and result["frames"] == sum(len(x) - 1 for x in test)
    expected = frame_nll(load_run(run).model, [x.astype(np.uint8) for x in test], batch_size=1)
    assert result["nll"] == pytest.approx(expected, rel=1e-5)

    assert main(["evaluate", str(run), "--split", "valid", "--json"]) == 0  # the run's own source by default
    assert json.loads(capsys.readouterr().out)["nll"] == pytest.approx(load_run(run).info["best_valid_nll"], rel=1e-5)


def test_evaluate_on_a_folder_run_repeats_the_training_split(midi_folder: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    config = tmp_path / "tiny.yaml"
    config.write_text(f"data:\n  source: {midi_folder}\ntrain:\n  epochs: 2\n")
    assert main(["train", str(config), "--out", str(run), "--quiet", *sets(*TINY, *TINY_LSTM)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(midi_folder), "--split", "valid", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["nll"] == pytest.approx(load_run(run).info["best_valid_nll"], rel=1e-5)


def test_evaluate_errors_name_the_problem(midi_folder: Path, benchmark_file: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    config = tmp_path / "tiny.yaml"
    config.write_text(f"data:\n  source: {midi_folder}\ntrain:\n  epochs: 1\n")
    assert main(["train", str(config), "--out", str(run), "--quiet", *sets(*TINY, *TINY_LSTM)]) == 0
    assert main(["evaluate", str(run), "--data", str(benchmark_file), "--json"]) == 2
    err = capsys.readouterr().err  # the run reads 128-key rolls with onsets; the benchmark holds 88 keys
    assert "toy.mat" in err and "representation.keys=88" in err
    assert main(["evaluate", str(tmp_path / "nowhere"), "--json"]) == 2
    assert "not found" in capsys.readouterr().err


def test_benchmark_script_prints_one_json_object(benchmark_file: Path) -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "polyphonic.py"), "--data", str(benchmark_file)]
    command += ["--model", "gru", "--json", *sets(*QUICK)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(done.stdout)
    assert {"dataset", "model", "params", "valid_nll", "test_nll", "epochs", "train_seconds"} <= set(result)
    assert result["dataset"] == "toy" and result["model"] == "gru" and result["epochs"] == 2
    assert result["params"] > 0 and result["train_frames_per_second"] > 0
    assert 0 < result["test_nll"] < 88 * np.log(2)  # better than a coin per key
