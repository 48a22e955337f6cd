"""Output heads: exact log-likelihoods against torch.distributions, sampling, truncation, the
start at the data's marginal, and which heads fit which frames."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as dist

from tunesmith.errors import ConfigError
from tunesmith.models import build_model, model_config
from tunesmith.models.heads import HEADS, make_head, resolve_head

D = 5


def params_for(name: str, batch: int = 7, components: int = 3) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(batch, make_head(name, D, components).n_params)


def test_bernoulli_log_prob() -> None:
    logits, x = params_for("bernoulli"), (torch.rand(7, D) < 0.4).float()
    expected = dist.Bernoulli(logits=logits).log_prob(x).sum(-1)
    assert torch.allclose(make_head("bernoulli", D).log_prob(logits, x), expected, atol=1e-5)


@pytest.mark.parametrize(("name", "family"), [("gaussian", dist.Normal), ("laplace", dist.Laplace)])
def test_location_scale_log_prob(name: str, family: type) -> None:
    params, x = params_for(name), torch.randn(7, D)
    loc, log_scale = params.split(D, dim=-1)
    expected = family(loc, log_scale.exp()).log_prob(x).sum(-1)
    assert torch.allclose(make_head(name, D).log_prob(params, x), expected, atol=1e-5)


def test_mixture_log_prob() -> None:
    k = 3
    params, x = params_for("mixture", components=k), torch.randn(7, D)
    logits, loc, log_scale = params.reshape(7, 3, k, D).unbind(1)
    per_feature = dist.MixtureSameFamily(
        dist.Categorical(logits=logits.permute(0, 2, 1)),
        dist.Normal(loc.permute(0, 2, 1), log_scale.exp().permute(0, 2, 1)),
    )
    expected = per_feature.log_prob(x).sum(-1)
    assert torch.allclose(make_head("mixture", D, k).log_prob(params, x), expected, atol=1e-4)


@pytest.mark.parametrize("name", ["gaussian", "laplace", "mixture"])
def test_samples_follow_the_density(name: str) -> None:
    head = make_head(name, D, 2)
    params = params_for(name, batch=1, components=2).expand(40_000, -1)
    draws = head.sample(params, generator=torch.Generator().manual_seed(1))
    grid = torch.linspace(-12, 12, 4001)
    # The first feature's sample mean against the mean of its density, integrated on a grid.
    marginal = _first_feature_density(head, params[0], grid)
    mean = float((grid * marginal).sum() * (grid[1] - grid[0]))
    assert float(draws[:, 0].mean()) == pytest.approx(mean, abs=0.05)


def _first_feature_density(head, params: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """p(x_0) on ``grid``: the head's log_prob with the other features held where they add a
    constant (the features are independent, so the constant cancels after normalizing)."""
    values = torch.zeros(len(grid), D)
    values[:, 0] = grid
    p = head.log_prob(params.expand(len(grid), -1), values).exp()
    return p / (p.sum() * (grid[1] - grid[0]))


def test_top_p_cuts_the_tails_and_temperature_scales_the_spread() -> None:
    head = make_head("gaussian", D)
    params = torch.cat([torch.zeros(1, D), torch.zeros(1, D)], -1).expand(20_000, -1)  # N(0, 1)
    g = torch.Generator().manual_seed(2)
    cut = head.sample(params, top_p=0.5, generator=g)
    assert float(cut.abs().max()) <= 0.675  # the central half of N(0, 1) ends at 0.674
    cold = head.sample(params, temperature=0.5, generator=g)
    assert float(cold.std()) == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_start_at_the_marginal(name: str) -> None:
    head = make_head(name, D, 2)
    bias = torch.zeros(head.n_params)
    mean = torch.tensor([0.1, 0.2, 0.3, 0.05, 0.4])
    std = torch.tensor([0.5, 1.0, 2.0, 0.3, 1.5])
    head.init_bias(bias, mean, std)
    if head.binary:
        assert torch.allclose(torch.sigmoid(bias), mean, atol=1e-5)
        return
    draws = head.sample(bias.expand(50_000, -1), generator=torch.Generator().manual_seed(3))
    assert torch.allclose(draws.mean(0), mean, atol=0.05)
    assert torch.allclose(draws.std(0), std, rtol=0.1)


def test_which_heads_fit_which_frames() -> None:
    assert resolve_head("auto", binary=True) == "bernoulli" and resolve_head("auto", binary=False) == "gaussian"
    with pytest.raises(ConfigError, match="does not fit"):
        resolve_head("gaussian", binary=True)
    with pytest.raises(ConfigError, match="does not fit"):
        resolve_head("bernoulli", binary=False)
    with pytest.raises(ConfigError, match="models binary frames only"):
        build_model(model_config({"name": "lstm-nade"}), D, binary=False)
    with pytest.raises(ConfigError, match="model.head"):
        model_config({"name": "lstm", "head": "cauchy"})
    model = build_model(model_config({"name": "gru", "hidden_size": 4, "head": "laplace"}), D, binary=False)
    assert model.head.name == "laplace" and model.spec()["params"]["head"] == "laplace"
    assert math.isfinite(float(model.readout.bias.detach().sum()))
