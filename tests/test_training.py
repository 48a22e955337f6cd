"""The trainer: it learns, resumes exactly after an interruption, runs under torchrun with two
gloo processes where only rank 0 writes, and refuses bad configs before any training starts."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.config import config_from_dict, load_config
from tunesmith.data import prepare_data
from tunesmith.errors import CheckpointError, ConfigError, DataError
from tunesmith.evaluation import frame_nll
from tunesmith.models import build_model, model_config
from tunesmith.run import load_run
from tunesmith.training import load_checkpoint, train
from tunesmith.training import trainer as trainer_module
from tunesmith.training.ensemble import fit_pool_weights, member_config

TINY = [
    "data.seq_len=16",
    "data.batch_size=4",
    "data.workers=1",
    "data.valid_fraction=0.25",
    "data.test_fraction=0.1",
    "representation.step=eighth",
    "train.lr=0.01",
    "train.patience=0",
]
TINY_LSTM = ["model.hidden_size=16", "model.num_layers=1"]
TINY_ENSEMBLE = ["model.name=ensemble", "model.members=[{name: lstm, hidden_size: 16}, {name: lstm, hidden_size: 16}]"]


def tiny_config(folder: Path, *extra: str, model: list[str] = TINY_LSTM):
    return load_config(None, [f"data.source={folder}", *TINY, *model, *extra])


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))


def test_training_learns_and_writes_its_run(midi_folder: Path, tmp_path: Path) -> None:
    result = train(tiny_config(midi_folder, "train.epochs=6"), tmp_path / "run", progress=False)
    history = rows(tmp_path / "run")
    assert [int(r["epoch"]) for r in history] == list(range(1, 7))
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])
    assert result.best_valid_nll == min(float(r["valid_nll"]) for r in history)
    for name in ("config.yaml", "loss.png", "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (tmp_path / "run" / name).is_file(), name
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert checkpoint["model"]["name"] == "lstm" and checkpoint["progress"]["epoch"] == 6
    assert checkpoint["representation"]["params"]["step"] == "eighth" and checkpoint["tunesmith_version"]
    run = load_run(tmp_path / "run")
    assert run.info["best_valid_nll"] == pytest.approx(result.best_valid_nll)


@pytest.mark.parametrize("ema", ["train.ema=0", "train.ema=0.9"])
def test_resume_after_interruption_matches_an_uninterrupted_run(
    ema: str, midi_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    config = tiny_config(midi_folder, "train.epochs=4", "data.transpose=2", "model.dropout=0.2", ema)
    train(config, tmp_path / "straight", progress=False)

    calls = {"n": 0}
    real = trainer_module.validation_metrics

    def crash_in_epoch_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the power goes out during epoch 3's validation
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "validation_metrics", crash_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", progress=False)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["progress"]["epoch"] == 2
    monkeypatch.setattr(trainer_module, "validation_metrics", real)
    with pytest.raises(CheckpointError, match="--resume"):
        train(config, tmp_path / "resumed", progress=False)
    train(config, tmp_path / "resumed", resume=True, progress=False)

    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert b["progress"]["epoch"] == 4 and b["progress"]["step"] == a["progress"]["step"]
    for weights in ("state_dict", "train_state_dict") if "train_state_dict" in a else ("state_dict",):
        for key in a[weights]:
            assert torch.allclose(a[weights][key], b[weights][key], atol=1e-6), (weights, key)
    assert [r["epoch"] for r in rows(tmp_path / "resumed")] == ["1", "2", "3", "4"]
    assert [r["valid_nll"] for r in rows(tmp_path / "resumed")] == [r["valid_nll"] for r in rows(tmp_path / "straight")]


def test_weight_average_is_validated_and_saved(midi_folder: Path, tmp_path: Path) -> None:
    """With train.ema, validation and best.pt use the averaged weights; last.pt also keeps the
    trained ones for resuming; a run trained without it cannot resume with it."""
    result = train(tiny_config(midi_folder, "train.epochs=3", "train.ema=0.9"), tmp_path / "run", progress=False)
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert set(last["train_state_dict"]) == set(last["state_dict"])
    assert any(not torch.equal(last["state_dict"][k], last["train_state_dict"][k]) for k in last["state_dict"])
    run = load_run(tmp_path / "run")
    split = prepare_data(config_from_dict(run.config).data, run.representation, progress=False).splits["valid"]
    assert frame_nll(run.model, split, batch_size=4) == pytest.approx(result.best_valid_nll, rel=1e-5)

    train(tiny_config(midi_folder, "train.epochs=1"), tmp_path / "plain", progress=False)
    with pytest.raises(CheckpointError, match="without train.ema"):
        config = tiny_config(midi_folder, "train.epochs=2", "train.ema=0.9")
        train(config, tmp_path / "plain", resume=True, progress=False)


def test_resume_refuses_another_model(midi_folder: Path, tmp_path: Path) -> None:
    train(tiny_config(midi_folder, "train.epochs=1"), tmp_path / "run", progress=False)
    with pytest.raises(CheckpointError, match="model.name lstm -> gru"):
        train(
            tiny_config(midi_folder, "train.epochs=2", "model.name=gru"), tmp_path / "run", resume=True, progress=False
        )
    with pytest.raises(CheckpointError, match=r"representation.keys 88 -> 128") as refused:
        train(tiny_config(midi_folder, "representation.keys=128"), tmp_path / "run", resume=True, progress=False)
    assert "model." not in str(refused.value)  # only what changed, not two identical sides
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_config(midi_folder), tmp_path / "fresh", resume=True, progress=False)


def torchrun_train(
    config_file: Path, out: Path, *overrides: str, model: list[str] = TINY_LSTM
) -> subprocess.CompletedProcess:
    """``tunesmith train`` in two gloo processes under torchrun; fails the test if it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "tunesmith", "train", str(config_file), "--out", str(out), "--quiet"]
    command += [a for item in [*TINY, *model, *overrides] for a in ("--set", item)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_process_run_trains_and_only_rank_zero_writes(midi_folder: Path, tmp_path: Path) -> None:
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(f"data:\n  source: {midi_folder}\n")
    prepared_by_one = tmp_path / "single"
    train(tiny_config(midi_folder, "train.epochs=3"), prepared_by_one, progress=False)  # also warms the cache
    done = torchrun_train(config_file, tmp_path / "ddp", "train.epochs=3")
    history = rows(tmp_path / "ddp")
    assert [r["epoch"] for r in history] == ["1", "2", "3"]  # one writer: no doubled rows
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])
    assert len(list((tmp_path / "ddp" / "tb").glob("events.out.tfevents.*"))) == 1
    assert done.stdout.count("trained 3 epochs") == 1
    written = sorted(
        p.relative_to(tmp_path / "ddp").as_posix()
        for p in (tmp_path / "ddp").rglob("*")
        if p.is_file() and "tb" not in p.parts
    )
    assert written == ["checkpoints/best.pt", "checkpoints/last.pt", "config.yaml", "loss.png", "metrics.csv"]
    # Each process sees half the windows of an epoch: about half the optimizer steps (batches round up).
    single_steps = load_checkpoint(prepared_by_one / "checkpoints" / "last.pt")["progress"]["step"]
    assert (
        single_steps / 2
        <= load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")["progress"]["step"]
        < single_steps
    )


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (["train.lr=fast"], ConfigError, "train.lr"),
        (["train.epochz=3"], ConfigError, "did you mean train.epochs"),
        (["model.name=wavenet"], ConfigError, "registered models"),
        (["data.seq_len=[1]"], ConfigError, "data.seq_len"),
        (["train.lr_schedule=linear"], ConfigError, "lr_schedule"),
        (["data.batch_size=0"], ConfigError, "data.batch_size must be >= 1"),
        (["data.seq_len=-4"], ConfigError, "data.seq_len must be >= 1"),
        (["data.valid_fraction=0.6", "data.test_fraction=0.5"], ConfigError, "leave some training data"),
        (["data.transpose=-1"], ConfigError, "data.transpose"),
        (["train.patience=-1"], ConfigError, "train.patience"),
        (["train.device=tpu"], ConfigError, "train.device"),
        (["train.ema=1"], ConfigError, "train.ema"),
        (["train.judge_count=1"], ConfigError, "train.judge_count must be >= 2"),
        (["representation.fps=30"], None, None),  # fine: fps is only read when step is fps
    ],
)
def test_bad_config_fails_before_training(overrides, error, message, tmp_path: Path) -> None:
    if error is None:
        load_config(None, overrides)
        return
    with pytest.raises(error, match=message):
        load_config(None, overrides)


def test_empty_dataset_fails_before_training(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("not music")
    with pytest.raises(DataError, match="no usable pieces"):
        train(tiny_config(tmp_path / "nothing"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_early_stopping_and_time_limit(midi_folder: Path, tmp_path: Path) -> None:
    # A learning rate this small cannot improve validation by the 1e-6 the trainer asks for.
    stalled = train(
        tiny_config(midi_folder, "train.epochs=20", "train.patience=2", "train.lr=1e-12", "train.lr_schedule=constant"),
        tmp_path / "stall",
        progress=False,
    )
    assert stalled.stopped == "early stopping" and stalled.epochs == 3 and stalled.best_epoch == 1
    timed = train(
        tiny_config(midi_folder, "train.epochs=50", "train.max_minutes=0.0001"), tmp_path / "timed", progress=False
    )
    assert timed.stopped == "time limit" and timed.epochs == 1


def test_no_epoch_starts_that_would_end_past_the_time_limit(midi_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """Epochs of 60 s on a fake clock and a 150 s budget: two epochs, not a third ending at 180 s."""
    clock = [1000.0]
    monkeypatch.setattr(trainer_module.time, "monotonic", lambda: clock[0])
    run_epoch = trainer_module._Run._train_epoch

    def minute_long(self, epoch):
        clock[0] += 60.0
        return run_epoch(self, epoch)

    monkeypatch.setattr(trainer_module._Run, "_train_epoch", minute_long)
    result = train(
        tiny_config(midi_folder, "train.epochs=50", "train.max_minutes=2.5"), tmp_path / "run", progress=False
    )
    assert result.stopped == "time limit" and result.epochs == 2


@pytest.mark.parametrize(("window", "best"), [(1, 2), (3, 7)])
def test_select_window_keeps_the_epoch_best_on_average(
    midi_folder: Path, tmp_path: Path, monkeypatch, window: int, best: int
) -> None:
    """Scripted validation NLLs 5, 1, 6, 6, 2, 2, 2: epoch 2 is best alone; over 3 epochs the
    means are 5, 3, 4, 4.33, 4.67, 3.33, 2, so epoch 7 (and the one lucky epoch is passed over)."""
    scores = iter([5.0, 1.0, 6.0, 6.0, 2.0, 2.0, 2.0])
    monkeypatch.setattr(trainer_module, "validation_metrics", lambda *a, **k: {"nll": next(scores)})
    config = tiny_config(midi_folder, "train.epochs=7", "train.patience=0", f"train.select_window={window}")
    result = train(config, tmp_path / "run", progress=False)
    assert result.best_epoch == best
    assert result.best_value == pytest.approx(1.0 if window == 1 else 2.0)
    nll = [float(r["valid_nll"]) for r in csv.DictReader(open(tmp_path / "run" / "metrics.csv"))]
    assert nll == [5.0, 1.0, 6.0, 6.0, 2.0, 2.0, 2.0]  # the log keeps each epoch's own value
    with pytest.raises(ConfigError, match="train.select_window must be >= 1"):
        tiny_config(midi_folder, "train.select_window=0")


def test_skipped_files_are_reported_once_at_the_end(midi_folder: Path, tmp_path: Path, caplog) -> None:
    (midi_folder / "zz_broken.mid").write_bytes(b"MThd\x00\x00\x00\x06junk")
    with caplog.at_level("INFO"):
        train(tiny_config(midi_folder, "train.epochs=1"), tmp_path / "run", progress=False)
    reports = [r for r in caplog.records if r.levelname == "WARNING" and "zz_broken.mid" in r.getMessage()]
    assert len(reports) == 1 and "skipped 1 inputs" in reports[0].getMessage()


def test_resume_with_more_epochs_stretches_the_cosine_schedule(midi_folder: Path, tmp_path: Path) -> None:
    train(tiny_config(midi_folder, "train.epochs=2", "train.lr_schedule=cosine"), tmp_path / "run", progress=False)
    train(
        tiny_config(midi_folder, "train.epochs=4", "train.lr_schedule=cosine"),
        tmp_path / "run",
        resume=True,
        progress=False,
    )
    lrs = [float(r["lr"]) for r in rows(tmp_path / "run")]
    # Rows 1-2 follow a 2-epoch cosine (down to 0); rows 3-4 the 4-epoch one from where it stands.
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * e / t)) for e, t in [(1, 2), (2, 2), (3, 4), (4, 4)]]
    assert lrs == pytest.approx(expected, abs=1e-9)


def test_max_steps_caps_the_epochs_and_the_cosine_follows(midi_folder: Path, tmp_path: Path) -> None:
    one = train(tiny_config(midi_folder, "train.epochs=1"), tmp_path / "one", progress=False)
    steps_per_epoch = one.steps
    budget = 2 * steps_per_epoch + 1  # a little over two epochs: rounded up to three
    capped = train(
        tiny_config(midi_folder, "train.epochs=50", f"train.max_steps={budget}"), tmp_path / "capped", progress=False
    )
    assert capped.epochs == 3 and capped.stopped == "epochs"
    lrs = [float(r["lr"]) for r in rows(tmp_path / "capped")]
    assert lrs == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * e / 3)) for e in (1, 2, 3)], abs=1e-9)
    roomy = train(tiny_config(midi_folder, "train.epochs=2", "train.max_steps=100000"), tmp_path / "r", progress=False)
    assert roomy.epochs == 2  # a budget larger than the epochs changes nothing


def test_ensemble_trains_each_member_as_its_own_run(midi_folder: Path, tmp_path: Path) -> None:
    """Members, of any kinds, train one after another with seeds seed, seed + 1 and their own
    train overrides; best.pt holds their best weights together and the ensemble's validation
    score; an existing run needs --resume."""
    members = "model.members=[{name: lstm, hidden_size: 16}, {name: tcn, channels: 16, train: {epochs: 3}}]"
    config = tiny_config(midi_folder, "train.epochs=2", "train.seed=5", model=["model.name=ensemble", members])
    result = train(config, tmp_path / "ens", progress=False)
    members = [load_run(tmp_path / "ens" / "members" / str(i)) for i in range(2)]
    assert [m.model.name for m in members] == ["lstm", "tcn"]
    assert [m.info["epoch"] for m in members] == [2, 3]
    assert [config_from_dict(m.config).train.seed for m in members] == [5, 6]
    run = load_run(tmp_path / "ens")
    assert run.model.name == "ensemble"
    for member, alone in zip(run.model.members, members):
        for key, weight in alone.model.state_dict().items():
            assert torch.equal(member.state_dict()[key], weight), key
    valid = prepare_data(config.data, config.representation, progress=False).splits["valid"]
    assert frame_nll(run.model, valid, batch_size=4) == pytest.approx(result.best_valid_nll, rel=1e-5)
    assert result.best_valid_nll == run.info["best_valid_nll"]
    assert result.seconds > 0 and result.steps == sum(m.info["step"] for m in members)
    assert result.members == 2 and result.stopped == "epochs"

    with pytest.raises(CheckpointError, match="--resume"):
        train(config, tmp_path / "ens", progress=False)
    again = train(config, tmp_path / "ens", resume=True, progress=False)  # members done: only re-combined
    assert again.best_valid_nll == pytest.approx(result.best_valid_nll)


def test_member_runs_take_their_overrides_and_share_the_time_budget(midi_folder: Path) -> None:
    members = "model.members=[{name: lstm}, {name: tcn, train: {epochs: 7, lr: 0.5}}]"
    config = tiny_config(midi_folder, "train.seed=3", "train.max_minutes=10", model=["model.name=ensemble", members])
    first, second = member_config(config, 0), member_config(config, 1, minutes_used=4.0)
    assert first.model["name"] == "lstm" and second.model["name"] == "tcn" and "train" not in second.model
    assert (first.train.seed, first.train.epochs, first.train.lr) == (3, config.train.epochs, config.train.lr)
    assert (second.train.seed, second.train.epochs, second.train.lr) == (4, 7, 0.5)
    assert first.train.max_minutes == 10 and second.train.max_minutes == pytest.approx(6.0)
    assert member_config(config, 1, minutes_used=12.0).train.max_minutes == pytest.approx(1e-3)  # spent: one epoch
    unlimited = tiny_config(midi_folder, model=["model.name=ensemble", members])
    assert member_config(unlimited, 1, minutes_used=30.0).train.max_minutes == 0


def test_pool_weights_fitted_on_validation_silence_a_useless_member(rng: np.random.Generator) -> None:
    """One member predicts each key's frequency, the other a coin flip for every key: fitted
    on held-out sequences, the pool all but drops the coin and scores at least as well as
    equal weights and as the better member alone."""
    seqs = [(rng.random((30, 10)) < np.linspace(0.05, 0.4, 10)).astype(np.uint8) for _ in range(6)]
    section = {"name": "ensemble", "members": [{"name": "lstm", "hidden_size": 4}, {"name": "tcn", "channels": 4}]}
    ensemble = build_model(model_config(section), 10).eval()
    with torch.no_grad():
        for member, frequencies in zip(ensemble.members, (np.concatenate(seqs).mean(0), np.full(10, 0.5))):
            member.readout.weight.zero_()
            member.set_output_prior(torch.tensor(frequencies, dtype=torch.float32), torch.ones(10))
        equal = frame_nll(ensemble, seqs)
        alone = frame_nll(ensemble.members[0], seqs)
    fit_pool_weights(ensemble, seqs, batch_size=4)
    weights = ensemble.weights
    assert float(weights.sum()) == pytest.approx(1.0) and float(weights[1]) < 0.01
    fitted = frame_nll(ensemble, seqs)
    assert fitted < equal - 0.1 and fitted <= alone + 1e-3


def test_two_process_ensemble_shares_one_process_group(midi_folder: Path, tmp_path: Path) -> None:
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(f"data:\n  source: {midi_folder}\n")
    train(tiny_config(midi_folder, "train.epochs=1"), tmp_path / "warm", progress=False)  # fills the cache
    done = torchrun_train(config_file, tmp_path / "ddp", "train.epochs=1", model=TINY_ENSEMBLE)
    assert done.stdout.count("trained 2 members") == 1
    for member in ("0", "1"):
        assert [r["epoch"] for r in rows(tmp_path / "ddp" / "members" / member)] == ["1"]
    assert load_run(tmp_path / "ddp").model.name == "ensemble"
