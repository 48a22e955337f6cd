"""Runs written before checkpoint format 2 (``tests/data/format1-run``, made by the code at commit
6cdde0c) still load, evaluate and generate; the migration is exact where it can be checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.evaluation import evaluate_run
from tunesmith.run import generate, load_run, write_pieces
from tunesmith.training.checkpoint import FORMAT, FORMAT_1, load_checkpoint, save_checkpoint

FIXTURE = Path(__file__).parent / "data" / "format1-run"


def test_the_fixture_is_format_1() -> None:
    raw = torch.load(FIXTURE / "checkpoints" / "best.pt", weights_only=True)
    assert raw["format"] == FORMAT_1 and "optimizer" in raw and "representation" in raw


def test_format_1_is_migrated_to_format_2() -> None:
    raw = torch.load(FIXTURE / "checkpoints" / "best.pt", weights_only=True)
    payload = load_checkpoint(FIXTURE / "checkpoints" / "best.pt")
    assert payload["format"] == FORMAT and payload["migrated_from"] == FORMAT_1
    assert payload["representation"] == {"name": "pianoroll", "params": raw["representation"], "state": {}}
    assert payload["config"]["representation"]["name"] == "pianoroll"
    assert payload["model"]["params"]["head"] == "bernoulli"
    assert payload["progress"]["best_metric"] == "nll"
    assert payload["progress"]["best_value"] == raw["best_valid_nll"]
    assert payload["progress"]["epoch"] == raw["epoch"] and payload["meta"]["qpm"] == raw["qpm"]
    assert payload["optimizers"]["model"]["param_groups"] == raw["optimizer"]["param_groups"]
    assert all(torch.equal(payload["state_dict"][k], v) for k, v in raw["state_dict"].items())


def test_a_format_1_run_loads_evaluates_and_generates(midi_folder: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "old"
    shutil.copytree(FIXTURE, run_dir)
    run = load_run(run_dir)
    assert run.model.name == "lstm" and run.representation.name == "pianoroll"
    assert run.info["best_valid_nll"] == pytest.approx(
        load_checkpoint(run_dir / "checkpoints" / "best.pt")["progress"]["best_value"]
    )
    score = evaluate_run(run, data=str(midi_folder), split="train")
    assert np.isfinite(score["nll"]) and score["frames"] > 0
    pieces = generate(run, num=2, length=16, seed=0)
    files = write_pieces(pieces, tmp_path / "gen", run.representation, audio=False)
    assert all(f["midi"].is_file() and f["plot"].is_file() for f in files)
    # Saved again, the migrated payload is an ordinary format-2 checkpoint.
    again = save_checkpoint(
        tmp_path / "again.pt",
        {k: v for k, v in load_checkpoint(run_dir / "checkpoints" / "best.pt").items() if k != "format"},
    )
    assert torch.load(again, weights_only=True)["format"] == FORMAT
