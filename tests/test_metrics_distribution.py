"""Set-to-set distances against closed forms, independent computations and known intervals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from tunesmith.errors import TunesmithError
from tunesmith.metrics.distribution import (
    bias_corrected_interval,
    density_overlap,
    frechet_distance,
    mgeval,
    two_sample_accuracy,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("k", "n", "expected"), [(5, 10, (0.2366, 0.7634)), (0, 10, (0.0, 0.2775)), (10, 10, (0.7225, 1.0))]
)
def test_wilson_interval_known_values(k: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("shift", [0.5, 1.0, 2.0])
def test_density_overlap_of_two_gaussians(rng: np.random.Generator, shift: float) -> None:
    a, b = rng.standard_normal(4000), rng.standard_normal(4000) + shift
    overlap, kl = density_overlap(a, b)
    assert overlap == pytest.approx(2 * norm.cdf(-shift / 2), abs=0.04)  # closed form for N(0,1), N(d,1)
    assert kl == pytest.approx(shift**2 / 2, rel=0.2, abs=0.02)


def test_density_overlap_of_constant_samples() -> None:
    assert density_overlap(np.zeros(5), np.zeros(7))[0] == pytest.approx(1.0, abs=1e-6)
    assert density_overlap(np.zeros(5), np.ones(7))[0] == pytest.approx(0.0, abs=1e-6)


def _frechet_by_eigenvalues(x: np.ndarray, y: np.ndarray) -> float:
    """|mu_x - mu_y|^2 + tr(C_x) + tr(C_y) - 2 sum sqrt(eig(C_x C_y)): no matrix square root."""
    cx, cy = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    eig = np.linalg.eigvals(cx @ cy).real
    return float(np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(cx) + np.trace(cy) - 2 * np.sqrt(eig.clip(0)).sum())


@pytest.mark.parametrize("dims", [1, 3, 8])
def test_frechet_matches_an_independent_computation(rng: np.random.Generator, dims: int) -> None:
    x = rng.standard_normal((60, dims))
    y = rng.standard_normal((50, dims)) * 1.5 + 0.7
    result = frechet_distance(x, y, standardize=False, n_boot=20)
    assert result["value"] == pytest.approx(_frechet_by_eigenvalues(x, y), rel=1e-6)
    assert result["ci"][0] <= result["ci"][1]


def test_frechet_one_dimension_closed_form(rng: np.random.Generator) -> None:
    x, y = rng.normal(0, 1, (200, 1)), rng.normal(3, 2, (200, 1))
    mx, my, sx, sy = x.mean(), y.mean(), x.std(ddof=1), y.std(ddof=1)
    value = frechet_distance(x, y, standardize=False, n_boot=5)["value"]
    assert value == pytest.approx((mx - my) ** 2 + (sx - sy) ** 2)


def test_frechet_of_identical_sets_is_zero_and_singular_is_finite(rng: np.random.Generator) -> None:
    x = rng.standard_normal((30, 4))
    assert frechet_distance(x, x, n_boot=5)["value"] == pytest.approx(0.0, abs=1e-6)
    few = rng.standard_normal((3, 10))  # 3 items in 10 dimensions: singular covariances
    assert np.isfinite(frechet_distance(few, few + 1, n_boot=5)["value"])


def test_mgeval_tells_shifted_sets_apart(rng: np.random.Generator) -> None:
    real = rng.standard_normal(50)
    same = mgeval(real, rng.standard_normal(50), n_boot=10, seed=1)
    far = mgeval(real, rng.standard_normal(50) + 5, n_boot=10, seed=1)
    assert same["overlap"] > 0.8 > 0.3 > far["overlap"]
    assert far["kl"] > same["kl"]
    assert far["inter"] > far["intra_real"]
    low, high = same["overlap_ci"]
    assert 0 <= low <= high <= 1


def test_mgeval_is_reproducible_and_takes_vectors(rng: np.random.Generator) -> None:
    real, gen = rng.random((20, 12)), rng.random((15, 12))
    assert mgeval(real, gen, n_boot=5, seed=7) == mgeval(real, gen, n_boot=5, seed=7)
    with pytest.raises(TunesmithError, match="features per item"):
        mgeval(real, gen[:, :5])


def test_two_sample_accuracy(rng: np.random.Generator) -> None:
    real = rng.standard_normal((150, 5))
    same = two_sample_accuracy(real, rng.standard_normal((200, 5)))
    assert same["n"] == 300  # the larger set is subsampled to 150
    assert same["ci"][0] < 0.5 < same["ci"][1]
    far = two_sample_accuracy(real, rng.standard_normal((150, 5)) + 3)
    assert far["accuracy"] > 0.95
    assert far["ci"][0] <= far["accuracy"] <= far["ci"][1]
    tiny = two_sample_accuracy(real[:2], real[2:4] + 5)
    assert tiny["folds"] == 2


def test_bias_corrected_interval_follows_the_draws() -> None:
    draws = list(np.linspace(0, 1, 101))
    assert bias_corrected_interval(draws, 0.5) == pytest.approx([0.025, 0.975], abs=1e-3)
    low, high = bias_corrected_interval(draws, 0.3)
    assert low < 0.3 < high and high < 0.975


@pytest.mark.parametrize("fn", [mgeval, frechet_distance, two_sample_accuracy])
def test_bad_sets_raise_one_error(fn) -> None:
    with pytest.raises(TunesmithError, match="at least 2"):
        fn(np.zeros((1, 2)), np.zeros((5, 2)))
    with pytest.raises(TunesmithError, match="NaN"):
        fn(np.full((3, 2), np.nan), np.zeros((5, 2)))
