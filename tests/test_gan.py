"""The GAN families (``lstm-gan``, ``specgan``) and their shared machinery (``adversarial.py``):
every loss trains, the players' freezing skips steps, collapse and saturation are reported,
a NaN stops the run, an interrupted run resumes exactly (the pretraining counter included), two
gloo processes train one, and the CLI trains and generates MIDI and WAV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.cli import main
from tunesmith.config import TrainConfig, load_config
from tunesmith.data import sequence_batches
from tunesmith.errors import ConfigError, TrainingError
from tunesmith.models import adversarial, build_model, model_config, model_from_spec
from tunesmith.models.adversarial import AdversarialModel
from tunesmith.sampling import sample_frames
from tunesmith.training import load_checkpoint, train
from tunesmith.training import trainer as trainer_module

from .test_training import TINY as TINY_NOTES
from .test_training import torchrun_train

WIDTH = 10
TINY_GAN = [
    "model.name=lstm-gan",
    "model.g_hidden=8",
    "model.d_hidden=8",
    "model.noise_size=4",
    "train.judge_count=4",
    "train.sample_length=24",
]
SPECGAN = {"name": "specgan", "patch_frames": 8, "channels": 4, "layers": 2, "noise_size": 8, "crossfade": 2}
LSTM_GAN = {"name": "lstm-gan", "g_hidden": 12, "d_hidden": 12, "noise_size": 4}


def gan(section: dict, *, binary: bool, width: int = WIDTH, seed: int = 0) -> AdversarialModel:
    torch.manual_seed(seed)
    return build_model(model_config(section), width, binary=binary)


def toy_batch(rng: np.random.Generator, *, binary: bool, rows: int = 6, length: int = 12) -> dict:
    if binary:
        seqs = [(rng.random((length, WIDTH)) < 0.3).astype(np.uint8) for _ in range(rows)]
    else:
        seqs = [rng.normal(0, 1, (length, WIDTH)).astype(np.float32) for _ in range(rows)]
    return next(sequence_batches(seqs, batch_size=rows))


def call(model):
    """The trainer's ``call`` in one process."""
    return lambda method, batch: getattr(model, method)(batch)


def player_weights(model: AdversarialModel) -> dict[str, list[torch.Tensor]]:
    return {
        "generator": [p.detach().clone() for p in model.generator.parameters()],
        "discriminator": [p.detach().clone() for p in model.discriminator.parameters()],
    }


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


# -- the shared machinery ------------------------------------------------------------------------
def test_losses_match_their_formulas() -> None:
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sig = torch.sigmoid
    bce = -(0.9 * sig(real).log() + 0.1 * (1 - sig(real)).log()).mean() - (1 - sig(fake)).log().mean()
    got = adversarial.discriminator_loss("bce", real, fake, smoothing=0.1)
    assert got.item() == pytest.approx(bce.item(), rel=1e-5)
    assert adversarial.discriminator_loss("hinge", real, fake).item() == pytest.approx((0 + 2) / 2 + (1.5 + 0) / 2)
    assert adversarial.discriminator_loss("wgan-gp", real, fake).item() == pytest.approx(-1.25 - 0.5)
    assert adversarial.generator_loss("bce", fake).item() == pytest.approx(-sig(fake).log().mean().item(), rel=1e-5)
    assert adversarial.generator_loss("hinge", fake).item() == pytest.approx(1.25)
    # Wasserstein accuracy: threshold at the midpoint of the two means (0.5 - 1.25) / 2 = -0.375.
    assert adversarial.correct("wgan-gp", real, fake).item() == 2  # 2.0 above, -3.0 below
    assert adversarial.correct("bce", real, fake).item() == 2  # 2.0 > 0 and -3.0 <= 0


def test_gradient_penalty_of_a_linear_critic() -> None:
    """The gradient of ``w . x`` is ``w`` everywhere, so the penalty is ``(|w| - 1) ** 2``."""
    w = torch.tensor([3.0, 4.0, 0.0])
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    penalty = adversarial.gradient_penalty(lambda x: x @ w, real, fake)
    assert penalty.item() == pytest.approx(16.0)


def test_spread_and_moment_gap() -> None:
    present = torch.ones(3, 4)
    same = torch.ones(3, 4, 2)
    assert adversarial.spread(same, present).item() == 0.0
    apart = torch.stack([torch.zeros(4, 2), torch.ones(4, 2), 2 * torch.ones(4, 2)])
    assert adversarial.spread(apart, present).item() == pytest.approx((1 + 2 + 1) * 2 / 6)
    assert adversarial.moment_gap(apart, apart, present, present).item() == 0.0
    assert adversarial.moment_gap(apart, apart + 1, present, present).item() == pytest.approx(1.0)
    held = torch.tensor([[0.0, 0, 1, 1]]).unsqueeze(-1)  # same frames as `flicker`, another motion
    flicker = torch.tensor([[0.0, 1, 0, 1]]).unsqueeze(-1)
    one = torch.ones(1, 4)
    # frames: equal moments; changes: mean 1/3 vs 1/3, std 0.471 vs 0.943
    assert adversarial.moment_gap(held, flicker, one, one).item() == pytest.approx(0.4714, abs=1e-3)
    mask = torch.tensor([[0.0, 0, 1, 1, 0, 0]])  # a validation row: frame 1 unscored, then padding
    assert adversarial.present_frames(mask).tolist() == [[1.0, 1, 1, 1, 0, 0]]


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"name": "lstm-gan", "loss": "lsgan"}, "model.loss"),
        ({"name": "lstm-gan", "freeze_ahead": 0.4}, "model.freeze_ahead"),
        ({"name": "lstm-gan", "label_smoothing": 0.6}, "model.label_smoothing"),
        ({"name": "lstm-gan", "head": "laplace"}, "model.head"),
        ({"name": "lstm-gan", "g_hidden": 0}, "model.g_hidden"),
        ({"name": "lstm-gan", "d_steps": 0}, "model.d_steps"),
        ({"name": "specgan", "crossfade": 64}, "model.crossfade"),
        ({"name": "specgan", "layers": 0}, "model.layers"),
        ({"name": "specgan", "layout": "bins"}, "model.layout must be one of image, frames"),
    ],
)
def test_bad_gan_sections(section: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        model_config(section)


# -- training steps ------------------------------------------------------------------------------
CASES = [
    (LSTM_GAN, True, "bce", {"label_smoothing": 0.1, "feature_matching": 1.0}),
    (LSTM_GAN, True, "hinge", {"spectral_norm": True}),
    (LSTM_GAN, False, "wgan-gp", {"d_steps": 2}),
    (LSTM_GAN, False, "bce", {"spectral_norm": True, "feature_matching": 0.5}),
    (SPECGAN, False, "wgan-gp", {}),
    (SPECGAN, False, "hinge", {"spectral_norm": True}),
    (SPECGAN, False, "bce", {"label_smoothing": 0.1, "feature_matching": 0.1}),
    (SPECGAN, False, "wgan-gp", {"layout": "frames", "blur": True, "minibatch_std": True}),
    (LSTM_GAN, False, "bce", {"output_noise": True, "mle_weight": 1.0}),
]


@pytest.mark.parametrize(
    ("section", "binary", "loss", "options"),
    CASES,
    ids=[f"{s['name']}-{'binary' if b else 'real'}-{loss}-{len(o)}" for s, b, loss, o in CASES],
)
def test_each_loss_trains_finitely(section, binary, loss, options, rng: np.random.Generator) -> None:
    model = gan({**section, "loss": loss, **options}, binary=binary)
    batch = toy_batch(rng, binary=binary)
    optimizers = model.configure_optimizers(TrainConfig(lr=1e-2))
    before = player_weights(model)
    model.train()
    for _ in range(4):
        out = model.training_step(batch, optimizers, call(model), grad_clip=1.0)
        assert {"g_loss", "d_loss", "d_accuracy", "frames"} <= set(out)
        assert all(math.isfinite(float(v)) for v in out.values())
        assert 0.0 <= float(out["d_accuracy"]) <= 1.0
    assert changed(before["generator"], model.generator) and changed(before["discriminator"], model.discriminator)
    model.eval()
    torch.manual_seed(0)
    metrics = {k: float(s) / max(float(c), 1.0) for k, (s, c) in model.validation_sums(batch).items()}
    assert set(metrics) == {"d_accuracy", "moment_gap", "diversity", "diversity_measured"}
    assert metrics["diversity_measured"] == 1.0
    one = {k: v[:1] for k, v in batch.items()}  # one window: nothing to compare, so no verdict
    alone = {k: float(s) / max(float(c), 1.0) for k, (s, c) in model.validation_sums(one).items()}
    assert alone["diversity_measured"] == 0.0
    assert not model.diagnose({f"valid_{k}": v for k, v in alone.items()})["mode_collapse"]
    assert all(math.isfinite(v) for v in metrics.values()) and metrics["diversity"] > 0


@pytest.mark.parametrize(("accuracy", "skipped"), [(1.0, "discriminator"), (0.0, "generator"), (0.5, None)])
def test_freeze_skips_the_player_too_far_ahead(accuracy: float, skipped: str | None, rng) -> None:
    model = gan({**LSTM_GAN, "freeze_ahead": 0.75}, binary=True)
    batch = toy_batch(rng, binary=True)
    optimizers = model.configure_optimizers(TrainConfig(lr=1e-2))

    def rigged(method, batch):  # the discriminator tells `accuracy` of the windows apart
        out = getattr(model, method)(batch)
        if method == "discriminator_step":
            out["correct"] = accuracy * out["count"]
        return out

    before = player_weights(model)
    out = model.training_step(batch, optimizers, rigged)
    assert float(out["d_skipped"]) == float(skipped == "discriminator")
    assert float(out["g_skipped"]) == float(skipped == "generator")
    for player in ("generator", "discriminator"):
        assert changed(before[player], getattr(model, player)) == (player != skipped), player
    # a skipped player still ran backward (under torchrun every process must, for the all-reduce)
    assert all(p.grad is not None for p in model.parameters())


def test_pretraining_counts_its_steps_in_the_checkpoint(rng: np.random.Generator, tmp_path: Path) -> None:
    model = gan({**LSTM_GAN, "pretrain_steps": 3}, binary=True)
    batch = toy_batch(rng, binary=True)
    optimizers = model.configure_optimizers(TrainConfig(lr=1e-2))
    discriminator = player_weights(model)["discriminator"]
    outs = [model.training_step(batch, optimizers, call(model)) for _ in range(2)]
    assert all(set(o) == {"mle_loss", "frames"} for o in outs) and int(model.pretrained) == 2
    assert outs[1]["mle_loss"] < outs[0]["mle_loss"] and not changed(discriminator, model.discriminator)

    from tunesmith.training import save_checkpoint

    save_checkpoint(tmp_path / "m.pt", {"model": model.spec(), "state_dict": model.state_dict()})
    loaded = model_from_spec(load_checkpoint(tmp_path / "m.pt")["model"])
    loaded.load_state_dict(load_checkpoint(tmp_path / "m.pt")["state_dict"])
    assert int(loaded.pretrained) == 2
    optimizers = loaded.configure_optimizers(TrainConfig(lr=1e-2))
    assert "mle_loss" in loaded.training_step(batch, optimizers, call(loaded))  # the third and last
    assert "g_loss" in loaded.training_step(batch, optimizers, call(loaded))  # the game starts
    assert int(loaded.pretrained) == 3


# -- the checks ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("section", "binary"), [(LSTM_GAN, False), (LSTM_GAN, True), (SPECGAN, False)])
def test_a_constant_generator_is_flagged_as_collapsed(section, binary, rng: np.random.Generator) -> None:
    model = gan(section, binary=binary).eval()
    batch = toy_batch(rng, binary=binary, length=14)
    torch.manual_seed(1)
    sums = model.validation_sums(batch)
    healthy = {f"valid_{k}": float(s) / float(c) for k, (s, c) in sums.items()}
    with torch.no_grad():  # every output the same, whatever the noise and the past
        for p in model.generator.parameters():
            p.zero_()
        last = model.generator.readout if section is LSTM_GAN else model.generator.stages[-1]
        last.bias.fill_(50.0 if binary else 0.7)  # keys: probability 1, so every draw is the same
    sums = model.validation_sums(batch)
    collapsed = {f"valid_{k}": float(s) / float(c) for k, (s, c) in sums.items()}
    assert collapsed["valid_diversity"] == pytest.approx(0.0, abs=1e-6)
    assert healthy["valid_diversity"] > 1e-3
    assert model.diagnose(collapsed)["mode_collapse"]
    if binary:  # independent key draws differ as much as real frames do; an untrained
        # generator of real values barely moves with its noise, and is rightly flagged too
        assert not model.diagnose(healthy)["mode_collapse"]


def test_saturation_is_flagged() -> None:
    model = gan(LSTM_GAN, binary=True)
    assert model.diagnose({"valid_d_accuracy": 0.995, "valid_diversity": 1.0})["discriminator_saturated"]
    assert not model.diagnose({"valid_d_accuracy": 0.8, "valid_diversity": 1.0})["discriminator_saturated"]
    pretraining = gan({**LSTM_GAN, "pretrain_steps": 5}, binary=True)  # the discriminator has not played yet
    assert not pretraining.diagnose({"valid_d_accuracy": 1.0, "valid_diversity": 1.0})["discriminator_saturated"]
    critic = gan(SPECGAN, binary=False)  # a Wasserstein critic separates by design; it does not saturate
    assert not critic.diagnose({"valid_d_accuracy": 1.0, "valid_diversity": 1.0})["discriminator_saturated"]


def test_trainer_writes_alert_columns_for_a_silent_generator(midi_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """A generator that only makes silence: the run's metrics say collapse, and the
    discriminator, which soon tells silence from music, saturates."""
    from tunesmith.models.gan import LSTMGAN

    real_fakes = LSTMGAN.fakes

    def silent(self, batch, *, hard=False):
        fake, present = real_fakes(self, batch, hard=hard)
        return fake * 0.0, present

    monkeypatch.setattr(LSTMGAN, "fakes", silent)
    config = load_config(None, [f"data.source={midi_folder}", *TINY_NOTES, *TINY_GAN, "train.epochs=3"])
    train(config, tmp_path / "run", progress=False)
    history = rows(tmp_path / "run")
    assert all(r["alert_mode_collapse"] == "1" for r in history)
    assert history[-1]["alert_discriminator_saturated"] == "1"
    assert float(history[-1]["valid_d_accuracy"]) >= 0.99


def test_a_nan_loss_stops_the_run(midi_folder: Path, tmp_path: Path, monkeypatch) -> None:
    real_step = AdversarialModel.generator_step
    calls = {"n": 0}

    def poisoned(self, batch):
        calls["n"] += 1
        out = real_step(self, batch)
        return {"loss": out["loss"] * float("nan")} if calls["n"] == 5 else out

    monkeypatch.setattr(AdversarialModel, "generator_step", poisoned)
    config = load_config(None, [f"data.source={midi_folder}", *TINY_NOTES, *TINY_GAN, "train.epochs=3"])
    with pytest.raises(TrainingError, match="g_loss became nan at step 5"):
        train(config, tmp_path / "run", progress=False)


def test_pretraining_has_its_own_optimizer(rng: np.random.Generator) -> None:
    """Maximum likelihood trains as supervised models do (train.lr, Adam's default betas); the
    game's Adam of the generator first moves when the game starts."""
    model = gan({**LSTM_GAN, "pretrain_steps": 2, "g_lr": 1e-4}, binary=True)
    optimizers = model.configure_optimizers(TrainConfig(lr=1e-2))
    assert set(optimizers) == {"generator", "discriminator", "pretrain"}
    assert optimizers["pretrain"].defaults["lr"] == 1e-2 and optimizers["pretrain"].defaults["betas"] == (0.9, 0.999)
    assert optimizers["generator"].defaults["lr"] == 1e-4 and optimizers["generator"].defaults["betas"][0] == 0.5
    batch = toy_batch(rng, binary=True)
    for _ in range(2):
        model.training_step(batch, optimizers, call(model))
    assert optimizers["pretrain"].state and not optimizers["generator"].state
    assert "g_loss" in model.training_step(batch, optimizers, call(model))
    assert optimizers["generator"].state and optimizers["discriminator"].state


def test_mle_weight_adds_the_likelihood_loss_to_the_generator(rng: np.random.Generator, monkeypatch) -> None:
    batch = toy_batch(rng, binary=True)
    losses = {}
    for weight in (0.0, 2.0):
        model = gan({**LSTM_GAN, "mle_weight": weight}, binary=True)
        monkeypatch.setattr(model, "pretrain_loss", lambda b: {"loss": torch.tensor(5.0)})
        torch.manual_seed(1)  # the same fakes both times
        losses[weight] = model.generator_step(batch)["loss"].item()
    assert losses[2.0] - losses[0.0] == pytest.approx(10.0, rel=1e-5)
    with pytest.raises(ConfigError, match="model.mle_weight must be >= 0"):
        gan({**LSTM_GAN, "mle_weight": -1.0}, binary=True)


def test_output_noise_draws_frames_from_a_gaussian_the_game_can_shape(rng: np.random.Generator) -> None:
    model = gan({**LSTM_GAN, "output_noise": True}, binary=False)
    batch = toy_batch(rng, binary=False)
    # pretraining is the Gaussian's negative log-likelihood of the next frame
    torch.manual_seed(3)
    frames = batch["frames"]
    noise = model._noise(len(frames), frames.shape[1] - 1, frames)
    outputs, _ = model.generator(frames[:, :-1], noise)
    mask = batch["mask"][:, 1:]
    expected = (-model.head.log_prob(outputs, frames[:, 1:]) * mask).sum() / mask.sum()
    torch.manual_seed(3)
    assert model.pretrain_loss(batch)["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    # the discriminator's gradient reaches the scales (the second half of the read-out)
    fake, present = model.fakes(batch)
    model.discriminate(fake, present)[0].sum().backward()
    scale_grad = model.generator.readout.bias.grad[WIDTH:]
    assert scale_grad.abs().sum() > 0
    # generation draws: same noise and state, different frames at temperature 0 and 1
    context = torch.zeros(1, WIDTH)
    cold = model.generate(context, num=3, length=8, temperature=1e-6, generator=torch.Generator().manual_seed(0))
    warm = model.generate(context, num=3, length=8, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert cold.shape == warm.shape == (3, 8, WIDTH) and not torch.allclose(cold, warm)
    with pytest.raises(ConfigError, match="model.output_noise is for spectral frames"):
        gan({**LSTM_GAN, "output_noise": True, "head": "bernoulli"}, binary=True)


def test_held_noise_is_drawn_once_per_sequence(rng: np.random.Generator) -> None:
    model = gan({**LSTM_GAN, "held_noise": 3}, binary=False)
    like = torch.zeros(())
    noise = model._noise(4, 9, like)
    assert noise.shape == (4, 9, LSTM_GAN["noise_size"] + 3)
    held = noise[..., LSTM_GAN["noise_size"] :]
    assert torch.equal(held, held[:, :1].expand_as(held)) and not torch.equal(held[0], held[1])
    fresh = noise[..., : LSTM_GAN["noise_size"]]
    assert not torch.equal(fresh[:, 0], fresh[:, 1])
    out = sample_frames(model.eval(), num=2, length=12, primer=rng.normal(size=(3, WIDTH)).astype(np.float32), seed=0)
    assert out.shape == (2, 15, WIDTH) and np.isfinite(out).all()
    with pytest.raises(ConfigError, match="model.held_noise must be >= 0"):
        gan({**LSTM_GAN, "held_noise": -1}, binary=False)


@pytest.mark.parametrize("section", [LSTM_GAN, SPECGAN], ids=["lstm-gan", "specgan"])
def test_minibatch_std_lets_the_discriminator_see_a_batch_of_copies(section: dict, rng) -> None:
    """With it, a window's score depends on the other windows of its batch; without, not."""
    windows = torch.as_tensor(rng.normal(size=(4, 12, WIDTH)), dtype=torch.float32)
    present = torch.ones(4, 12)
    copies = windows[:1].expand(4, -1, -1)
    assert adversarial.batch_spread(torch.ones(4, 5)).item() == 0.0
    assert adversarial.batch_spread(torch.ones(1, 5)).item() == 0.0
    for on in (False, True):
        model = gan({**section, "minibatch_std": on}, binary=False).eval()
        with torch.no_grad():
            alone = model.discriminate(copies, present)[0][0]
            among = model.discriminate(torch.cat([windows[:1], windows[1:]]), present)[0][0]
        assert torch.isclose(alone, among, atol=1e-6).item() != on


def _scripted_judge(monkeypatch, gaps: list[float], collapsed: set[float]) -> None:
    """The trainer's sample gap follows ``gaps`` epoch by epoch; an epoch whose gap is in
    ``collapsed`` is diagnosed with mode collapse."""
    values = iter(gaps)
    monkeypatch.setattr(trainer_module._Run, "_sample_gap", lambda self: next(values))

    def diagnose(self, metrics):
        hit = metrics["valid_sample_gap"] in collapsed
        return {"mode_collapse": "rigged" if hit else None, "discriminator_saturated": None}

    monkeypatch.setattr(AdversarialModel, "diagnose", diagnose)


def test_best_checkpoint_has_the_closest_samples_but_never_collapsed_ones(
    midi_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    _scripted_judge(monkeypatch, [0.5, 0.2, 0.1, 0.3], collapsed={0.1})
    config = load_config(None, [f"data.source={midi_folder}", *TINY_NOTES, *TINY_GAN, "train.epochs=4"])
    result = train(config, tmp_path / "run", progress=False)
    assert (result.best_metric, result.best_epoch, result.best_value) == ("sample_gap", 2, 0.2)
    history = rows(tmp_path / "run")
    assert [float(r["valid_sample_gap"]) for r in history] == [0.5, 0.2, 0.1, 0.3]
    assert [r["alert_mode_collapse"] for r in history] == ["0", "0", "1", "0"]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")["progress"]["best_epoch"] == 2


def test_a_run_collapsed_from_the_start_keeps_a_stand_in_until_a_healthy_epoch(
    midi_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    _scripted_judge(monkeypatch, [0.1, 0.05, 0.4], collapsed={0.1, 0.05})
    config = load_config(None, [f"data.source={midi_folder}", *TINY_NOTES, *TINY_GAN, "train.epochs=2"])
    result = train(config, tmp_path / "run", progress=False)
    assert (result.best_epoch, result.best_value) == (1, math.inf)  # epoch 1, a stand-in: best.pt exists
    assert (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    longer = load_config(None, [f"data.source={midi_folder}", *TINY_NOTES, *TINY_GAN, "train.epochs=3"])
    result = train(longer, tmp_path / "run", resume=True, progress=False)
    assert (result.best_epoch, result.best_value) == (3, 0.4)  # the first healthy epoch, however far


# -- runs ----------------------------------------------------------------------------------------
def test_resume_matches_an_uninterrupted_gan_run(midi_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """Pretraining spans the interruption: the resumed run neither repeats nor skips it. With a
    weight average (train.ema), which averages the counter's buffer too."""
    extra = ["train.epochs=3", "model.pretrain_steps=7", "model.freeze_ahead=0.7", "data.transpose=2", "train.ema=0.9"]
    config = load_config(None, [f"data.source={midi_folder}", *TINY_NOTES, *TINY_GAN, *extra])
    train(config, tmp_path / "straight", progress=False)

    calls = {"n": 0}
    real = trainer_module.validation_metrics

    def crash_in_epoch_2(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "validation_metrics", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", progress=False)
    saved = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert int(saved["train_state_dict"]["pretrained"]) == saved["progress"]["step"] < 7  # pretraining not done
    monkeypatch.setattr(trainer_module, "validation_metrics", real)
    train(config, tmp_path / "resumed", resume=True, progress=False)

    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert int(a["train_state_dict"]["pretrained"]) == int(b["train_state_dict"]["pretrained"]) == 7
    for weights in ("state_dict", "train_state_dict"):
        for key in a[weights]:
            assert torch.allclose(a[weights][key], b[weights][key], atol=1e-6), (weights, key)
    for column in ("valid_moment_gap", "valid_diversity", "train_g_loss"):
        assert [r[column] for r in rows(tmp_path / "resumed")] == [r[column] for r in rows(tmp_path / "straight")]


def test_two_gloo_processes_train_a_gan(midi_folder: Path, tmp_path: Path) -> None:
    """Under torchrun both players' gradients are averaged and the freeze decision is shared."""

    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(f"data:\n  source: {midi_folder}\n")
    model = [*TINY_GAN, "model.freeze_ahead=0.6", "model.pretrain_steps=2"]
    done = torchrun_train(config_file, tmp_path / "ddp", "train.epochs=2", model=model)
    history = rows(tmp_path / "ddp")
    assert [r["epoch"] for r in history] == ["1", "2"]
    assert all(math.isfinite(float(r["train_g_loss"])) and r["valid_moment_gap"] for r in history)
    assert done.stdout.count("trained 2 epochs") == 1


def test_specgan_refuses_windows_shorter_than_a_patch(tmp_path: Path) -> None:
    from tunesmith.audio.io import write_wav

    from .test_audio_pipeline import TINY_AUDIO
    from .test_representations import SR, chord_clip

    for seed in range(3):
        write_wav(tmp_path / "rec" / f"clip{seed}.wav", chord_clip(1.0, seed=seed).samples, sr=SR)
    sets = [f"data.source={tmp_path / 'rec'}", *TINY_AUDIO[:-2], "model.name=specgan", "model.patch_frames=64"]
    with pytest.raises(ConfigError, match=r"data.seq_len \(32\) is shorter than model.patch_frames \(64\)"):
        load_config(None, sets)  # when the config is read, before any data is prepared


@pytest.mark.parametrize("layout", ["image", "frames"])
@pytest.mark.parametrize("width", [7, 80, 513])
def test_specgan_makes_any_frame_width_and_length(width: int, layout: str) -> None:
    section = {**SPECGAN, "patch_frames": 12, "crossfade": 3, "layout": layout, "blur": True}
    model = gan(section, binary=False, width=width).eval()
    assert model.generator(torch.randn(2, 8)).shape == (2, 12, width)
    assert model.discriminate(torch.randn(3, 12, width), torch.ones(3, 12))[0].shape == (3,)
    frames = sample_frames(model, num=2, length=50, seed=0)
    assert frames.shape == (2, 50, width) and np.isfinite(frames).all()
    with pytest.raises(ConfigError, match="specgan cannot continue a primer"):
        sample_frames(model, num=1, length=5, primer=np.zeros((3, width), np.float32))


def test_low_pass_removes_the_checkerboard_and_keeps_a_constant() -> None:
    from tunesmith.models.specgan import low_pass

    alternating = torch.tensor([1.0, -1.0] * 8).expand(2, 3, 16)  # (B, C, frames)
    assert low_pass(alternating)[..., 1:-1].abs().max() == 0.0  # edges repeat their value
    checker = alternating[:1, :1, None, :] * torch.tensor([1.0, -1.0] * 4)[:, None]  # (1, 1, bins, frames)
    assert low_pass(checker)[..., 1:-1, 1:-1].abs().max() == 0.0
    constant = torch.full((1, 2, 5, 7), 0.3)
    assert torch.allclose(low_pass(constant), constant)
    ramp = torch.arange(10.0).view(1, 1, 10)
    assert torch.allclose(low_pass(ramp)[..., 1:-1], ramp[..., 1:-1])  # a straight line passes


def test_specgan_blur_smooths_what_the_generator_makes() -> None:
    """The same weights with and without ``blur``: the filtered patches change less from one
    frame to the next (the second difference, which flicker inflates, most of all)."""
    section = {**SPECGAN, "patch_frames": 32, "layout": "frames"}
    sharp = gan(section, binary=False, width=16).eval()
    smooth = gan({**section, "blur": True}, binary=False, width=16).eval()
    smooth.load_state_dict(sharp.state_dict())
    noise = torch.randn(8, 8)
    with torch.no_grad():
        second = [m.generator(noise).diff(n=2, dim=1).abs().mean() for m in (sharp, smooth)]
    assert second[1] < 0.8 * second[0]


def test_lstm_gan_continues_a_primer(rng: np.random.Generator) -> None:
    model = gan(LSTM_GAN, binary=True).eval()
    primer = (rng.random((5, WIDTH)) < 0.3).astype(np.float32)
    out = sample_frames(model, num=2, length=30, primer=primer, seed=4)
    assert out.shape == (2, 35, WIDTH) and np.array_equal(out[:, :5], np.stack([primer, primer]))
    assert set(np.unique(out)) <= {0.0, 1.0}
    with torch.no_grad():
        model.generator.readout.bias.fill_(-2.0)
    cold = sample_frames(model, num=4, length=100, temperature=0.5, seed=0).mean()
    hot = sample_frames(model, num=4, length=100, temperature=2.0, seed=0).mean()
    assert cold < hot


def test_cli_trains_and_generates_midi_with_lstm_gan(midi_folder: Path, tmp_path: Path, capsys) -> None:
    sets = [a for item in [f"data.source={midi_folder}", *TINY_NOTES, *TINY_GAN] for a in ("--set", item)]
    config = tmp_path / "gan.yaml"
    config.write_text("train:\n  epochs: 2\nmodel:\n  name: lstm-gan\n  pretrain_steps: 3\n")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet", *sets]) == 0
    assert "best validation sample_gap" in capsys.readouterr().out  # not called an NLL
    out = tmp_path / "gen"
    assert main(["generate", str(tmp_path / "run"), "--out", str(out), "--num", "2", "--length", "40"]) == 0
    assert sorted(p.name for p in out.glob("*.mid")) == ["piece-01.mid", "piece-02.mid"]
    header = rows(tmp_path / "run")[0]
    assert {"train_mle_loss", "valid_moment_gap", "alert_mode_collapse", "alert_discriminator_saturated"} <= set(header)
    assert all(0.0 <= float(r["valid_sample_gap"]) <= 1.0 for r in rows(tmp_path / "run"))  # judged every epoch


def test_cli_trains_and_generates_wav_with_specgan(tmp_path: Path, capsys) -> None:
    from tunesmith.audio.io import write_wav

    from .test_audio_pipeline import TINY_AUDIO
    from .test_representations import SR, chord_clip

    for seed in range(6):
        write_wav(tmp_path / "rec" / f"clip{seed}.wav", chord_clip(1.0, seed=seed).samples, sr=SR)
    model = ["model.name=specgan", "model.patch_frames=16", "model.channels=4", "model.layers=2", "model.d_steps=2"]
    settings = [f"data.source={tmp_path / 'rec'}", *TINY_AUDIO[:-2], *model, "train.epochs=1"]
    sets = [a for item in settings for a in ("--set", item)]
    config = tmp_path / "specgan.yaml"
    config.write_text("data:\n  valid_fraction: 0.34\n")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet", *sets]) == 0
    assert "best validation sample_gap" in capsys.readouterr().out  # not called an NLL
    out = tmp_path / "gen"
    assert main(["generate", str(tmp_path / "run"), "--out", str(out), "--num", "1", "--length", "40"]) == 0
    assert (out / "piece-01.wav").is_file() and (out / "piece-01.png").is_file()
    primer = tmp_path / "rec" / "clip0.wav"
    assert main(["generate", str(tmp_path / "run"), "--out", str(tmp_path / "gen2"), "--primer", str(primer)]) == 2
