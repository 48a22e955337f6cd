"""Every registered model: build, one training step, checkpoint save/load, sample, on every kind
of frame it can model (binary piano-roll frames; real-valued spectral frames); and the properties
that hold for some families, tested by capability."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.data import sequence_batches
from tunesmith.errors import CheckpointError, ConfigError
from tunesmith.evaluation import frame_nll
from tunesmith.models import MODELS, SequenceModel, build_model, model_config, model_from_spec
from tunesmith.models.heads import bernoulli_nucleus
from tunesmith.sampling import sample_frames
from tunesmith.training import load_checkpoint, save_checkpoint
from tunesmith.training.trainer import SAMPLE_GAP

WIDTH = 12


def small_section(name: str, size: int = 16, dropout: float = 0.1) -> dict:
    """A small ``model:`` section for any registered model; an ensemble mixes lstm, gru and tcn."""
    if name == "tcn":
        return {"name": "tcn", "channels": size, "levels": 2, "kernel_size": 2, "dropout": dropout}
    if name == "ensemble":
        kinds = ("lstm", "gru", "tcn")
        return {"name": "ensemble", "members": [small_section(kind, size, dropout) for kind in kinds]}
    if name == "lstm-gan":
        return {"name": name, "g_hidden": size, "d_hidden": size, "noise_size": 4, "pretrain_steps": 2}
    if name == "specgan":
        return {"name": name, "patch_frames": 4, "channels": 4, "layers": 2, "noise_size": 8, "crossfade": 1}
    if name in ("lstm-vae", "lstm-ae"):
        return {"name": name, "hidden_size": size, "latent_size": 8, "dropout": dropout}
    if name == "denoiser":
        return {"name": name, "hidden_size": size, "num_layers": 2, "kernel_size": 3}
    if name in ("conv-vae", "conv-ae"):
        return {"name": name, "channels": 4, "levels": 2, "latent_size": 8, "patch_frames": 8}
    return {"name": name, "hidden_size": size, "num_layers": 2, "dropout": dropout}


def tiny(name: str, *, binary: bool = True, head: str | None = None) -> SequenceModel:
    torch.manual_seed(0)
    section = small_section(name)
    if head is not None:
        section["head"] = head
    return build_model(model_config(section), WIDTH, binary=binary)


def toy_sequences(rng: np.random.Generator, n: int = 6, *, binary: bool = True) -> list[np.ndarray]:
    lengths = [int(rng.integers(5, 20)) for _ in range(n)]
    if binary:
        return [(rng.random((length, WIDTH)) < 0.3).astype(np.uint8) for length in lengths]
    return [np.cumsum(rng.normal(0, 0.3, (length, WIDTH)), axis=0).astype(np.float32) for length in lengths]


CASES = [(name, True) for name in sorted(MODELS) if "binary" in MODELS[name].frames] + [
    (name, False) for name in sorted(MODELS) if "continuous" in MODELS[name].frames
]


def _call(model: SequenceModel):
    """The trainer's ``call`` in one process: ``call(method, batch)`` runs ``model.<method>(batch)``."""
    return lambda method, batch: getattr(model, method)(batch)


def _validation(model: SequenceModel, batch: dict) -> dict[str, float]:
    torch.manual_seed(3)  # metrics that draw noise (a GAN's samples) see the same noise
    return {k: float(total) / max(float(count), 1.0) for k, (total, count) in model.validation_sums(batch).items()}


@pytest.mark.parametrize(("name", "binary"), CASES, ids=[f"{n}-{'binary' if b else 'real'}" for n, b in CASES])
def test_build_train_save_load_sample(name: str, binary: bool, tmp_path: Path, rng: np.random.Generator) -> None:
    """What every family shares, through the trainer's contract: build, a few training steps,
    validation metrics, checkpoint save and load, and sampling far past any training window."""
    from tunesmith.config import TrainConfig

    model = tiny(name, binary=binary)
    assert model.binary == binary
    batch = next(sequence_batches(toy_sequences(rng, binary=binary), batch_size=6))
    optimizers = model.configure_optimizers(TrainConfig(lr=1e-2))
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.train()
    first = None
    for _ in range(5):
        out = model.training_step(batch, optimizers, _call(model), grad_clip=1.0)
        assert out and all(math.isfinite(float(v)) for v in out.values())
        first = first or out
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())  # it learned something
    model.eval()
    metrics = _validation(model, batch)
    judged = model.best_metric == SAMPLE_GAP  # computed by the trainer from samples, not summed here
    assert (judged or model.best_metric in metrics) and all(math.isfinite(v) for v in metrics.values())
    if model.likelihood:  # an exact likelihood: five steps on one batch lower its loss
        assert model.loss(batch)["loss"].item() < first["loss"].item()

    save_checkpoint(tmp_path / "m.pt", {"model": model.spec(), "state_dict": model.state_dict()})
    payload = load_checkpoint(tmp_path / "m.pt")
    loaded = model_from_spec(payload["model"])
    loaded.load_state_dict(payload["state_dict"])
    loaded.eval()
    assert loaded.binary == binary
    assert _validation(loaded, batch) == pytest.approx(metrics, rel=1e-5, abs=1e-6)

    if not loaded.generates:  # e.g. the denoiser: sampling is refused with a one-line error
        with pytest.raises(ConfigError, match="does not generate"):
            sample_frames(loaded, num=1, length=4, seed=1)
        return
    frames = sample_frames(loaded, num=3, length=300, seed=1)  # far past any training window
    assert frames.shape == (3, 300, WIDTH) and np.isfinite(frames).all()
    if binary:
        assert set(np.unique(frames)) <= {0, 1}
    else:
        assert len(np.unique(frames)) > 100  # real values, not a constant
    again = sample_frames(loaded, num=3, length=300, seed=1)
    assert np.array_equal(frames, again)


def test_nll_matches_a_hand_computed_case() -> None:
    """A model that always predicts p=0.25 for every key: NLL is a closed form per frame."""

    class Constant(SequenceModel):
        name, description, Config = "constant", "", dict

        def forward(self, inputs, state=None):
            return torch.full_like(inputs, math.log(0.25 / 0.75)), state

    model = Constant({}, 2)
    seqs = [np.array([[1, 0], [1, 1], [0, 0]], np.uint8), np.array([[0, 1], [1, 0]], np.uint8)]
    on, off = -math.log(0.25), -math.log(0.75)
    # Frame 1 of each sequence is not scored; padding of the shorter one must not count either.
    expected = ((on + on) + (off + off) + (on + off)) / 3
    assert frame_nll(model, seqs, batch_size=2) == pytest.approx(expected)
    assert frame_nll(model, seqs, batch_size=1) == pytest.approx(expected)
    with_first = ((on + off) + (on + on) + (off + off) + (off + on) + (on + off)) / 5
    assert frame_nll(model, seqs, batch_size=2, score_first=True) == pytest.approx(with_first)


def test_nucleus_keeps_the_head_of_the_expected_notes() -> None:
    probs = torch.tensor([[0.9, 0.5, 0.05, 0.05]])
    kept = bernoulli_nucleus(probs, 0.8)  # 0.9 + 0.5 = 1.4 of 1.5 expected notes
    assert kept[0].tolist() == pytest.approx([0.9, 0.5, 0.0, 0.0])
    assert torch.equal(bernoulli_nucleus(probs, 1.0), probs)


def test_temperature_changes_density(rng: np.random.Generator) -> None:
    model = tiny("lstm")
    with torch.no_grad():
        model.readout.bias.fill_(-1.0)
    cold = sample_frames(model, num=4, length=100, temperature=0.3, seed=0).mean()
    hot = sample_frames(model, num=4, length=100, temperature=3.0, seed=0).mean()
    assert cold < hot


def test_primer_is_kept_and_continued(rng: np.random.Generator) -> None:
    model = tiny("gru")
    primer = toy_sequences(rng, 1)[0]
    out = sample_frames(model, num=2, length=7, primer=primer, seed=3)
    assert out.shape == (2, len(primer) + 7, WIDTH)
    assert np.array_equal(out[0, : len(primer)], primer) and np.array_equal(out[1, : len(primer)], primer)
    with pytest.raises(ConfigError, match="primer"):
        sample_frames(model, num=1, length=2, primer=np.zeros((3, WIDTH + 1)))


def test_generation_is_bounded_before_any_frame_is_drawn() -> None:
    """A huge request fails at once with the sizes named, not after hours or gigabytes."""
    from tunesmith import sampling

    model = tiny("gru")
    with pytest.raises(ConfigError, match="a piece of 10,000,000,000 frames is longer than the 262,144"):
        sample_frames(model, num=1, length=10**10)
    primer = np.zeros((5, WIDTH), np.float32)
    with pytest.raises(ConfigError, match="262,145 frames"):
        sample_frames(model, num=1, length=sampling.MAX_FRAMES - 4, primer=primer)
    with pytest.raises(ConfigError, match="fewer or shorter pieces"):
        sample_frames(model, num=10**6, length=1000)


@pytest.mark.parametrize(
    "section",
    [
        {"name": "transformer9"},
        {"name": "lstm", "hidden": 3},
        {"name": "gru", "dropout": "x"},
        {"name": "rnn", "dropout": 1.5},
        {"name": "lstm", "weight_dropout": 1.0},
        {"name": "gru", "input_dropout": -0.1},
        {"name": "lstm-nade", "nade_hidden": 0},
        {"name": "tcn", "channels": 0},
        {"name": "tcn", "kernel_size": 2.5},
        {"name": "tcn", "dropout": 1.0},
    ],
)
def test_bad_model_sections(section: dict) -> None:
    with pytest.raises(ConfigError):
        model_config(section)


def test_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a tunesmith checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_checkpoint_refuses_pickled_code(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "tunesmith-checkpoint/1", "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")


LIKELIHOOD = sorted(name for name, cls in MODELS.items() if cls.likelihood)
STATEFUL = sorted(name for name, cls in MODELS.items() if cls.likelihood and cls.carries_state)


@pytest.mark.parametrize("name", LIKELIHOOD)
def test_output_prior_starts_at_the_marginal(name: str, rng: np.random.Generator) -> None:
    seqs = [(rng.random((40, WIDTH)) < np.linspace(0.02, 0.3, WIDTH)).astype(np.uint8) for _ in range(8)]
    batch = next(sequence_batches(seqs, batch_size=8))
    frequencies = np.concatenate(seqs).mean(axis=0)
    p = frequencies.clip(1e-4, 1 - 1e-4)
    scored = np.concatenate([s[1:] for s in seqs]).astype(float)
    marginal = float(-(scored * np.log(p) + (1 - scored) * np.log(1 - p)).sum(1).mean())
    model = tiny(name).eval()
    fresh = model.loss(batch)["loss"].item()
    std = np.concatenate(seqs).std(axis=0)
    model.set_output_prior(torch.tensor(frequencies, dtype=torch.float32), torch.tensor(std, dtype=torch.float32))
    primed = model.loss(batch)["loss"].item()
    assert primed < fresh and primed < 1.2 * marginal


def _every_frame(width: int) -> torch.Tensor:
    """All 2**width frames of 0/1, ``shape=(2**width, width)``."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=width)))


@pytest.mark.parametrize("name", LIKELIHOOD)
def test_probabilities_over_a_frame_sum_to_one(name: str, rng: np.random.Generator) -> None:
    """On 5 keys, exp(log_prob) summed over all 32 possible next frames is 1 for any past."""
    torch.manual_seed(1)
    model = build_model(model_config(small_section(name, size=8, dropout=0.0)), 5).eval()
    with torch.no_grad():  # large weights, so the notes of a frame strongly depend on each other
        for p in model.parameters():
            p.normal_(0.0, 1.5)
    frames = _every_frame(5)
    past = torch.from_numpy((rng.random((1, 6, 5)) < 0.4).astype(np.float32)).expand(len(frames), -1, -1)
    batch = {"frames": torch.cat([past, frames.unsqueeze(1)], dim=1), "mask": torch.ones(len(frames), 7)}
    with torch.no_grad():
        probs = model.log_prob(batch)[:, -1].exp()
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)


def test_notewise_sampler_draws_from_its_likelihood() -> None:
    """Key-by-key samples of the NADE output follow the probabilities ``log_prob`` assigns."""
    torch.manual_seed(2)
    model = build_model(model_config({"name": "lstm-nade", "hidden_size": 8, "nade_hidden": 6, "dropout": 0.0}), 4)
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 1.5)
    frames = _every_frame(4)
    past = torch.tensor([[[0.0, 1, 0, 1], [1, 1, 0, 0]]])
    window = torch.cat([past.expand(16, -1, -1), frames[:, None]], 1)
    with torch.no_grad():
        context, _ = model(past)
        exact = model.log_prob({"frames": window, "mask": torch.ones(16, 3)})[:, -1].exp()
    draws = model.sample_frame(context[:, -1].expand(100_000, -1), generator=torch.Generator().manual_seed(0))
    codes = (draws * torch.tensor([8.0, 4, 2, 1])).sum(-1).long()
    empirical = torch.bincount(codes, minlength=16) / len(codes)
    assert torch.allclose(empirical, exact, atol=0.006)  # 4 standard errors at p=0.5 is 0.0063
    greedy = [
        model.sample_frame(context[:, -1], top_p=0.5, generator=torch.Generator().manual_seed(s)) for s in range(5)
    ]
    assert all(torch.equal(g, greedy[0]) for g in greedy)  # each key's likelier outcome, always


def test_nade_levels_match_the_textbook_formula(rng: np.random.Generator) -> None:
    """The fast per-level computation equals a_k = c + sum_{j<k} W_j v_j evaluated for every key."""
    torch.manual_seed(3)
    model = build_model(model_config({"name": "lstm-nade", "hidden_size": 8, "nade_hidden": 6}), WIDTH)
    with torch.no_grad():
        model.W.normal_()
        model.U.normal_()
    context = torch.randn(3, 7, 8)
    frames = torch.from_numpy((rng.random((3, 7, WIDTH)) < 0.4).astype(np.float32))
    reference = torch.empty(3, 7, WIDTH)
    for k in range(WIDTH):
        a = model.hidden_bias(context) + frames[..., :k] @ model.W[:k]
        reference[..., k] = model.readout(context)[..., k] + torch.sigmoid(a) @ model.U[k]
    assert torch.allclose(model.key_logits(context, frames), reference, atol=1e-5)


@pytest.mark.parametrize("option", ["weight_dropout", "input_dropout"])
def test_dropout_options_act_only_while_training(option: str, rng: np.random.Generator) -> None:
    torch.manual_seed(4)
    model = build_model(model_config({"name": "lstm", "hidden_size": 16, "dropout": 0.0, option: 0.5}), WIDTH)
    batch = next(sequence_batches(toy_sequences(rng), batch_size=6))
    model.train()
    assert model.loss(batch)["loss"].item() != model.loss(batch)["loss"].item()  # a new mask each time
    model.eval()
    assert model.loss(batch)["loss"].item() == model.loss(batch)["loss"].item()
    plain = build_model(model_config({"name": "lstm", "hidden_size": 16, "dropout": 0.0}), WIDTH).eval()
    plain.load_state_dict(model.state_dict())
    assert model.loss(batch)["loss"].item() == pytest.approx(plain.loss(batch)["loss"].item())


@pytest.mark.parametrize("combine", ["mean", "geometric"])
def test_ensemble_pools_its_members_probabilities(combine: str, rng: np.random.Generator) -> None:
    """Each key's probability is the mean (or normalized geometric mean) of the members'
    probabilities; each member learns on its own loss."""
    torch.manual_seed(5)
    section = {**small_section("ensemble", size=8, dropout=0.0), "combine": combine}
    model = build_model(model_config(section), WIDTH).eval()
    assert [member.name for member in model.members] == ["lstm", "gru", "tcn"]
    batch = next(sequence_batches(toy_sequences(rng), batch_size=6))
    with torch.no_grad():
        probs = torch.stack([torch.sigmoid(member(batch["frames"][:, :-1])[0]) for member in model.members])
        if combine == "mean":
            p = probs.mean(0)
        else:
            on, off = probs.log().mean(0).exp(), (1 - probs).log().mean(0).exp()
            p = on / (on + off)
        y = batch["frames"][:, 1:]
        expected = (y * p.log() + (1 - y) * (1 - p).log()).sum(-1)
        assert torch.allclose(model.log_prob(batch), expected, atol=1e-4)
        own = torch.stack([member.loss(batch)["loss"] for member in model.members]).mean()
        assert model.loss(batch)["loss"].item() == pytest.approx(own.item())


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"members": []}, "at least one"),
        ({"members": 2}, "model.members"),
        ({"members": [{"name": "lstm"}, {"name": "lstm-nade"}]}, r"model.members\[1\] must be"),
        (
            {"members": [{"name": "gru", "hidden_size": 0}]},
            r"model.members\[0\]: model.hidden_size and model.num_layers",
        ),
        (
            {"members": [{"name": "tcn", "hidden_size": 8}]},
            r"model.members\[0\]: unknown config key 'model.hidden_size'",
        ),
        ({"members": [{"name": "lstm"}, {"name": "tcn", "train": {"epochs": 0}}]}, r"members\[1\]: train.epochs"),
        ({"members": [{"name": "lstm", "train": {"epoch": 3}}]}, "did you mean train.epochs"),
        ({"members": [{"name": "lstm", "train": 3}]}, r"members\[0\]: train: expected a mapping"),
        ({"combine": "median"}, "model.combine"),
    ],
)
def test_bad_ensemble_sections(section: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        model_config({"name": "ensemble", **section})


@pytest.mark.parametrize("name", STATEFUL)
def test_state_carries_the_past(name: str, rng: np.random.Generator) -> None:
    """Feeding a piece in two parts, the state of the first carried into the second, gives the
    outputs of one pass over the whole piece (how the sampler continues a piece)."""
    model = tiny(name).eval()
    frames = torch.from_numpy((rng.random((2, 30, WIDTH)) < 0.3).astype(np.float32))
    with torch.no_grad():
        whole, _ = model(frames)
        first, state = model(frames[:, :11])
        rest, _ = model(frames[:, 11:], state)
    assert torch.allclose(torch.cat([first, rest], dim=1), whole, atol=1e-5)
