"""The autoencoder families (lstm-vae, lstm-ae, conv-vae, conv-ae): the KL schedule and free bits
by hand, the ELBO bound, reconstruction of learned phrases, slerp, and the step counter across
checkpoints and resumed runs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.config import TrainConfig, load_config
from tunesmith.errors import ConfigError
from tunesmith.latent import interpolate, note_f1
from tunesmith.models import build_model, model_config, model_from_spec
from tunesmith.models.vae import free_bits_kl, kl_divergence, kl_weight, slerp, split_windows
from tunesmith.training import load_checkpoint, save_checkpoint, train

KEYS = 12
LENGTH = 16


def phrases(rng: np.random.Generator, n: int = 4) -> torch.Tensor:
    """``n`` fixed phrases ``shape=(n, LENGTH, KEYS)``: chords held for 2-6 frames."""
    out = np.zeros((n, LENGTH, KEYS), np.float32)
    for i in range(n):
        t = 0
        while t < LENGTH:
            span = int(rng.integers(2, 7))
            out[i, t : t + span, rng.choice(KEYS, 3, replace=False)] = 1.0
            t += span
    return torch.from_numpy(out)


def as_batch(frames: torch.Tensor) -> dict[str, torch.Tensor]:
    """Phrases ``shape=(B, L, D)`` as the trainer's batch: a silent context frame in front."""
    full = torch.cat([torch.zeros(len(frames), 1, frames.shape[-1]), frames], dim=1)
    mask = torch.ones(full.shape[:2])
    mask[:, 0] = 0
    return {"frames": full, "mask": mask}


def call(model):
    return lambda method, batch: getattr(model, method)(batch)


def vae(**options) -> torch.nn.Module:
    torch.manual_seed(0)
    section = {"name": "lstm-vae", "hidden_size": 16, "latent_size": 4, **options}
    return build_model(model_config(section), KEYS)


# -- the KL term by hand ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "anneal", "expected"), [(0, 100, 0.0), (25, 100, 0.125), (50, 100, 0.25), (100, 100, 0.5), (400, 100, 0.5)]
)
def test_kl_weight_rises_linearly_to_beta(step: int, anneal: int, expected: float) -> None:
    assert kl_weight(step, beta=0.5, anneal_steps=anneal) == pytest.approx(expected)


def test_kl_weight_without_annealing_is_beta() -> None:
    assert kl_weight(0, beta=0.7, anneal_steps=0) == 0.7


def test_kl_divergence_and_free_bits_by_hand() -> None:
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # 0.5 * (mu^2 + var - 1 - log var) per dimension: 0.5 * (1 + 1 - 1 - 0) + 0.5 * (0 + 2 - 1 - ln 2)
    expected = 0.5 + 0.5 * (1.0 - math.log(2.0))
    assert kl_divergence(mu, logvar).tolist() == pytest.approx([expected, 0.0])
    kl = torch.tensor([3.0, 10.0, 4.0])
    assert free_bits_kl(kl, free_bits=1.0, latent_size=4).tolist() == pytest.approx([0.0, 6.0, 0.0])
    assert free_bits_kl(kl, free_bits=0.0, latent_size=4).tolist() == pytest.approx([3.0, 10.0, 4.0])


def test_loss_weighs_the_counted_kl_by_the_schedule(rng: np.random.Generator) -> None:
    """loss = (recon + beta_t * max(KL - free_bits * Z, 0)) / frames, with beta_t from the step counter."""
    model = vae(beta=0.8, kl_anneal_steps=10, free_bits=0.05, dropout=0.0).train()
    batch = as_batch(phrases(rng))
    model.steps.fill_(5)  # half-way: beta_t = 0.4
    torch.manual_seed(7)
    out = {k: v.detach() for k, v in model.loss(batch).items()}
    torch.manual_seed(7)
    with torch.no_grad():
        mu, logvar = model.encode_params(batch["frames"][:, 1:], batch["mask"][:, 1:])
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        params = model.reconstruction_params(z, batch["frames"][:, 1:])
        recon = -model.head.log_prob(params, batch["frames"][:, 1:]).sum()
        counted = (kl_divergence(mu, logvar) - 0.05 * 4).clamp_min(0).sum()
    frames = 4 * LENGTH
    assert float(out["loss"]) == pytest.approx(float(recon + 0.4 * counted) / frames, rel=1e-5)
    assert float(out["recon"]) == pytest.approx(float(recon) / frames, rel=1e-5)


def test_training_steps_advance_the_schedule_and_log_beta(rng: np.random.Generator) -> None:
    model = vae(beta=1.0, kl_anneal_steps=4)
    optimizers = model.configure_optimizers(TrainConfig(lr=1e-3))
    batch = as_batch(phrases(rng))
    logged = [float(model.training_step(batch, optimizers, call(model))["beta"]) for _ in range(6)]
    assert logged == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])
    assert int(model.steps) == 6 and int(model.window) == LENGTH


def test_elbo_bound_is_at_least_the_reconstruction_nll(rng: np.random.Generator) -> None:
    model = vae().eval()
    sums = model.validation_sums(as_batch(phrases(rng)))
    value = {k: float(total) / float(count) for k, (total, count) in sums.items()}
    assert value["kl"] >= 0
    assert value["elbo_bound"] >= value["recon_nll"]
    assert value["elbo_bound"] == pytest.approx(value["recon_nll"] + value["kl"], rel=1e-6)
    assert model.best_metric == "elbo_bound"
    ae = build_model(model_config({"name": "lstm-ae", "hidden_size": 8, "latent_size": 4}), KEYS).eval()
    assert ae.best_metric == "recon_nll" and "elbo_bound" not in ae.validation_sums(as_batch(phrases(rng)))


def test_split_windows_cuts_and_drops_empty_windows() -> None:
    frames = torch.arange(2 * 7 * 1, dtype=torch.float32).reshape(2, 7, 1)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0, 0]], dtype=torch.float32)
    windows, masks = split_windows(frames, mask, 3)
    # row 0: 3 windows (the last padded), row 1: only its first window has masked frames
    assert windows.shape == (4, 3, 1) and masks.tolist()[2] == [1, 0, 0]
    assert windows[3, :, 0].tolist() == [7.0, 8.0, 9.0]


# -- slerp -----------------------------------------------------------------------------------
def test_slerp_endpoints_and_unit_sphere() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, generator=gen), torch.randn(5, generator=gen)
    a, b = a / a.norm(), b / b.norm()
    t = torch.linspace(0, 1, 11).unsqueeze(-1)
    path = slerp(a.expand(11, -1), b.expand(11, -1), t)
    assert torch.allclose(path[0], a, atol=1e-6) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(path.norm(dim=-1), torch.ones(11), atol=1e-5)
    angles = torch.acos((path @ a).clamp(-1, 1))  # constant angular speed
    assert torch.allclose(angles, t[:, 0] * torch.acos(a @ b), atol=1e-4)
    linear = (1 - t) * a + t * b
    assert linear.norm(dim=-1)[5] < 0.999  # the straight line cuts inside the sphere; slerp does not


def test_slerp_falls_back_to_linear_for_parallel_vectors() -> None:
    a = torch.tensor([1.0, 2.0, 3.0])
    for b in (2 * a, a.clone(), torch.zeros(3)):
        middle = slerp(a, b, 0.25)
        assert torch.isfinite(middle).all()
        assert torch.allclose(middle, 0.75 * a + 0.25 * b, atol=1e-5)


# -- reconstruction ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_ae() -> tuple[torch.nn.Module, torch.Tensor]:
    """A tiny parallel-decoder autoencoder trained on 4 fixed phrases until it knows them."""
    torch.manual_seed(0)
    data = phrases(np.random.default_rng(5))
    section = {"name": "lstm-ae", "hidden_size": 32, "latent_size": 16, "decoder": "parallel"}
    model = build_model(model_config(section), KEYS)
    optimizers = model.configure_optimizers(TrainConfig(lr=2e-2))
    batch = as_batch(data)
    model.train()
    for _ in range(250):
        model.training_step(batch, optimizers, call(model), grad_clip=1.0)
    return model.eval(), data


def test_autoencoder_reconstructs_the_phrases_it_learned(trained_ae) -> None:
    model, data = trained_ae
    recon = model.decode(model.encode(data), LENGTH).numpy()
    scores = [note_f1(data[i].numpy(), recon[i]) for i in range(len(data))]
    assert min(scores) >= 0.9, scores


def test_interpolation_ends_are_the_decoded_pieces(trained_ae) -> None:
    model, data = trained_ae
    z = model.encode(data)
    path = interpolate(model, z[0], z[1], steps=4, length=LENGTH)
    assert path.shape == (4, LENGTH, KEYS)
    assert note_f1(data[0].numpy(), path[0]) >= 0.9 and note_f1(data[1].numpy(), path[-1]) >= 0.9
    assert not np.array_equal(path[1], path[0]) or not np.array_equal(path[2], path[-1])  # it moves


def test_generate_continues_from_the_primers_latent(trained_ae) -> None:
    model, data = trained_ae
    context = torch.cat([torch.zeros(1, KEYS), data[2]])
    out = model.generate(context, num=2, length=40, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 40, KEYS)
    assert note_f1(data[2].numpy(), out[0, :LENGTH].numpy()) >= 0.9  # first phrase: the primer's own latent
    assert torch.equal(out[0, :LENGTH], out[1, :LENGTH])  # same latent, greedy: the same first phrase,
    assert not torch.equal(out[0, LENGTH:], out[1, LENGTH:])  # then each walks on towards its own fresh draws
    prior = model.generate(context[:1], num=2, length=40, generator=torch.Generator().manual_seed(0))
    assert set(prior.unique().tolist()) <= {0.0, 1.0}


def test_mlp_autoencoder_reconstructs_the_phrases_it_learned() -> None:
    """The non-recurrent encoder and decoder learn 4 fixed phrases; the decoder writes at most a phrase."""
    torch.manual_seed(0)
    data = phrases(np.random.default_rng(7))
    section = {"name": "lstm-vae", "encoder": "mlp", "decoder": "mlp", "phrase_frames": LENGTH, "frame_size": 8,
               "hidden_size": 64, "latent_size": 16, "beta": 0.01, "kl_anneal_steps": 0}  # fmt: skip
    model = build_model(model_config(section), KEYS)
    model.set_output_prior(data.mean((0, 1)), torch.ones(KEYS))
    optimizers = model.configure_optimizers(TrainConfig(lr=1e-2))
    batch = as_batch(data)
    model.train()
    for _ in range(150):
        model.training_step(batch, optimizers, call(model), grad_clip=1.0)
    model.eval()
    assert model.window_size() == LENGTH
    recon = model.decode(model.encode(data), LENGTH).numpy()
    assert min(note_f1(data[i].numpy(), recon[i]) for i in range(len(data))) >= 0.9
    assert model.decode(model.encode(data), 5).shape == (4, 5, KEYS)
    with pytest.raises(ConfigError, match="phrase_frames"):
        model.decode(model.encode(data), LENGTH + 1)


def test_mlp_encoder_pads_short_phrases_with_silence(rng: np.random.Generator) -> None:
    section = {"name": "lstm-ae", "encoder": "mlp", "phrase_frames": LENGTH, "hidden_size": 8, "latent_size": 4}
    model = build_model(model_config(section), KEYS).eval()
    data = phrases(rng, 2)
    data[:, 10:] = 0
    assert torch.allclose(model.encode(data[:, :10]), model.encode(data), atol=1e-6)


def test_best_metric_picks_the_checkpoint_metric() -> None:
    assert vae().best_metric == "elbo_bound"
    assert vae(best_metric="recon_nll").best_metric == "recon_nll"


def test_note_f1_by_hand() -> None:
    ref = np.array([[1, 0, 1], [0, 1, 0]])
    est = np.array([[1, 1, 0], [0, 1, 0]])
    assert note_f1(ref, est) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert note_f1(np.zeros((2, 3)), np.zeros((2, 3))) == 1.0
    with pytest.raises(ConfigError):
        note_f1(ref, est[:1])


# -- conv-vae ---------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [13, 16, 7])
def test_conv_vae_pads_and_crops_any_width(width: int) -> None:
    torch.manual_seed(0)
    section = {"name": "conv-vae", "channels": 4, "levels": 2, "latent_size": 6, "patch_frames": 10}
    model = build_model(model_config(section), width, binary=False)
    frames = torch.randn(3, 23, width)  # longer than a patch: cut into 3 patches (the last padded)
    batch = as_batch(frames)
    out = model.loss(batch)
    assert math.isfinite(out["loss"].item()) and float(out["frames"]) == 3 * 23
    assert model.encode(frames).shape == (3, 6)
    assert model.decode(torch.zeros(2, 6), 10).shape == (2, 10, width)
    sample = model.generate(torch.zeros(1, width), num=2, length=25, generator=torch.Generator().manual_seed(1))
    assert sample.shape == (2, 25, width)


def test_conv_autoencoder_learns_its_patches(rng: np.random.Generator) -> None:
    torch.manual_seed(0)
    section = {"name": "conv-ae", "channels": 8, "levels": 2, "latent_size": 16, "patch_frames": 8}
    model = build_model(model_config(section), 10, binary=False)
    data = torch.from_numpy(rng.normal(size=(4, 8, 10)).astype(np.float32))
    batch = as_batch(data)
    optimizers = model.configure_optimizers(TrainConfig(lr=3e-3))
    error = lambda: float((model.decode(model.encode(data), 8) - data).pow(2).mean())  # noqa: E731
    before = error()
    for _ in range(150):
        model.training_step(batch, optimizers, call(model))
    assert error() < 0.3 * before


# -- options and checkpoints ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"name": "lstm-vae", "latent_size": 0}, "model.latent_size"),
        ({"name": "lstm-vae", "decoder": "hierarchical"}, "model.decoder"),
        ({"name": "lstm-vae", "beta": -1.0}, "model.beta"),
        ({"name": "lstm-vae", "free_bits": -0.5}, "model.free_bits"),
        ({"name": "lstm-vae", "kl_anneal_steps": -1}, "model.kl_anneal_steps"),
        ({"name": "lstm-vae", "encoder": "gru"}, "model.encoder"),
        ({"name": "lstm-vae", "encoder": "mlp"}, "model.phrase_frames"),  # an mlp is sized by the phrase
        ({"name": "lstm-ae", "decoder": "mlp"}, "model.phrase_frames"),
        ({"name": "lstm-vae", "decoder": "mlp", "phrase_frames": 16, "frame_size": 0}, "model.frame_size"),
        ({"name": "lstm-vae", "best_metric": "nll"}, "model.best_metric"),
        ({"name": "lstm-ae", "beta": 1.0}, "model.beta"),  # no KL in a plain autoencoder
        ({"name": "conv-vae", "head": "bernoulli"}, "model.head"),
        ({"name": "conv-vae", "levels": 9}, "model.levels"),
        ({"name": "conv-ae", "patch_frames": 0}, "model.patch_frames"),
    ],
)
def test_bad_options_name_the_option(section: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        model_config(section)


def test_conv_vae_refuses_piano_rolls() -> None:
    with pytest.raises(ConfigError, match="continuous"):
        build_model(model_config({"name": "conv-vae"}), KEYS, binary=True)


@pytest.mark.parametrize(
    "options", [{}, {"encoder": "mlp", "decoder": "mlp", "phrase_frames": LENGTH, "best_metric": "recon_nll"}]
)
def test_step_counter_and_window_survive_a_checkpoint(options: dict, rng: np.random.Generator, tmp_path: Path) -> None:
    model = vae(kl_anneal_steps=10, **options)
    optimizers = model.configure_optimizers(TrainConfig(lr=1e-3))
    for _ in range(3):
        model.training_step(as_batch(phrases(rng)), optimizers, call(model))
    save_checkpoint(tmp_path / "m.pt", {"model": model.spec(), "state_dict": model.state_dict()})
    payload = load_checkpoint(tmp_path / "m.pt")
    loaded = model_from_spec(payload["model"])
    loaded.load_state_dict(payload["state_dict"])
    assert int(loaded.steps) == 3 and loaded.window_size() == LENGTH
    assert loaded.kl_weight() == pytest.approx(0.3)
    assert loaded.best_metric == model.best_metric
    model.eval(), loaded.eval()
    data = phrases(rng)
    assert torch.equal(loaded.decode(loaded.encode(data), LENGTH), model.decode(model.encode(data), LENGTH))


def test_resumed_run_continues_the_kl_schedule(midi_folder: Path, tmp_path: Path) -> None:
    """The trainer's resume restores the step counter: after resuming, the model has counted every
    update of both sessions."""
    settings = [
        f"data.source={midi_folder}",
        "data.seq_len=8",
        "data.batch_size=4",
        "data.valid_fraction=0.25",
        "data.test_fraction=0.0",
        "representation.step=eighth",
        "model.name=lstm-vae",
        "model.hidden_size=8",
        "model.latent_size=4",
        "model.kl_anneal_steps=1000",
        "train.patience=0",
        "train.threads=1",
    ]
    run = tmp_path / "run"
    first = train(load_config(None, [*settings, "train.epochs=1"]), run, progress=False)
    both = train(load_config(None, [*settings, "train.epochs=2"]), run, resume=True, progress=False)
    assert both.steps > first.steps > 0
    payload = load_checkpoint(run / "checkpoints" / "last.pt")
    assert int(payload["state_dict"]["steps"]) == both.steps
    assert int(payload["state_dict"]["window"]) == 8
    assert first.best_metric == "elbo_bound"
