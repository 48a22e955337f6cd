"""Distances between a set of real and a set of generated items, each with a bootstrap interval.

Items are described by feature values: one row per item, ``shape=(n, d)`` (a scalar statistic
has ``d = 1``). Three measures:

- :func:`mgeval`: Yang & Lerch (2018). Per statistic, the pairwise distances inside the real
  set, inside the generated set, and between the sets; a Gaussian KDE of each; the overlap area
  and the KL divergence of the intra-real against the inter-set density. Overlap near 1 means
  a generated item sits among the real ones as the real ones sit among themselves.
- :func:`frechet_distance`: between Gaussians fitted to the two sets' feature vectors.
- :func:`two_sample_accuracy`: cross-validated accuracy of a logistic regression telling the
  sets apart, with a Wilson interval; 0.5 is ideal, 1.0 means trivially separable.

Intervals are percentile bootstraps over items, seeded, so a call is reproducible.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from tunesmith.errors import TunesmithError

__all__ = [
    "bias_corrected_interval",
    "density_overlap",
    "frechet_distance",
    "mgeval",
    "two_sample_accuracy",
    "wilson_interval",
]

MAX_DISTANCES = 1500
"""Distances kept per KDE (a seeded subsample), so the bootstrap stays fast on large sets."""


def _rows(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` as float64 ``shape=(n, d)``, with at least two rows and no NaN."""
    x = np.asarray(values, dtype=np.float64)
    x = x.reshape(len(x), -1) if x.ndim != 2 else x
    if len(x) < 2:
        raise TunesmithError(f"{name} holds {len(x)} item(s); a distribution needs at least 2")
    if not np.isfinite(x).all():
        raise TunesmithError(f"{name} holds NaN or infinite values; drop those items first")
    return x


def _pairwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``x`` and of ``y``, ``shape=(len(x), len(y))``."""
    sq = (x**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2.0 * x @ y.T
    return np.sqrt(np.maximum(sq, 0.0))


def _density(samples: np.ndarray, grid: np.ndarray, floor: float) -> np.ndarray:
    """Gaussian KDE (scipy, Scott's bandwidth) of ``samples`` on ``grid``; a narrow Gaussian of
    width ``floor`` around the value when the samples are (nearly) all equal."""
    from scipy.stats import gaussian_kde

    if np.ptp(samples) <= floor:
        return np.exp(-0.5 * ((grid - samples.mean()) / floor) ** 2) / (floor * math.sqrt(2 * math.pi))
    return gaussian_kde(samples)(grid)


def density_overlap(intra: np.ndarray, inter: np.ndarray, *, n_grid: int = 256) -> tuple[float, float]:
    """``(overlap, kl)`` of the Gaussian KDEs of two samples ``shape=(n,)``, ``shape=(m,)``.

    Both densities are evaluated on one grid spanning both samples plus a quarter of their range
    each side; ``overlap`` is the area under ``min(p, q)`` (1: identical, 0: disjoint) and ``kl``
    is ``KL(p || q)`` in nats.
    """
    both = np.concatenate([intra, inter])
    span = max(np.ptp(both), 1e-9)
    floor = 1e-3 * span + 1e-12
    grid = np.linspace(both.min() - 0.25 * span, both.max() + 0.25 * span, n_grid)
    p, q = _density(intra, grid, floor), _density(inter, grid, floor)
    dx = grid[1] - grid[0]
    p, q = p / (p.sum() * dx), q / (q.sum() * dx)
    overlap = float(np.minimum(p, q).sum() * dx)
    tiny = 1e-12
    kl = float(np.sum(p * np.log((p + tiny) / (q + tiny))) * dx)
    return min(overlap, 1.0), max(kl, 0.0)


def _upper(d: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Distances between distinct draws ``ia[i] < ia[j]`` pairs, skipping pairs of one item."""
    sub = d[np.ix_(ia, ib)]
    i, j = np.triu_indices(len(ia), k=1)
    keep = ia[i] != ib[j]
    return sub[i[keep], j[keep]]


def _subsample(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= MAX_DISTANCES else rng.choice(x, MAX_DISTANCES, replace=False)


def _mgeval_once(dr, dg, dx, ir, ig, rng) -> dict[str, float]:
    intra_r = _subsample(_upper(dr, ir, ir), rng)
    intra_g = _subsample(_upper(dg, ig, ig), rng)
    inter = _subsample(dx[np.ix_(ir, ig)].ravel(), rng)
    if intra_r.size == 0 or intra_g.size == 0:
        raise TunesmithError("too few distinct items for intra-set distances; pass at least 2 per set")
    overlap, kl = density_overlap(intra_r, inter)
    return {
        "overlap": overlap,
        "kl": kl,
        "intra_real": float(intra_r.mean()),
        "intra_generated": float(intra_g.mean()),
        "inter": float(inter.mean()),
    }


def mgeval(
    real: np.ndarray, generated: np.ndarray, *, n_boot: int = 50, seed: int = 0, confidence: float = 0.95
) -> dict[str, float | list[float]]:
    """Yang & Lerch's (2018) comparison of one statistic across two sets.

    ``real``: the statistic of each real item, ``shape=(n_real,)`` or ``shape=(n_real, d)``
    (histograms and matrices flattened); ``generated`` likewise. Distances are Euclidean
    (absolute difference for scalars). Returns ``overlap`` (area shared by the intra-real and
    inter-set densities, in [0, 1]), ``kl`` (``KL(intra-real || inter)`` in nats), the mean
    intra-real, intra-generated and inter-set distances, and ``overlap_ci``/``kl_ci``: the
    ``confidence`` percentile bootstrap intervals over resampled items.
    """
    r, g = _rows(real, "real"), _rows(generated, "generated")
    if r.shape[1] != g.shape[1]:
        raise TunesmithError(f"real has {r.shape[1]} features per item, generated {g.shape[1]}; compute one statistic")
    rng = np.random.default_rng(seed)
    dr, dg, dx = _pairwise(r, r), _pairwise(g, g), _pairwise(r, g)
    result: dict = _mgeval_once(dr, dg, dx, np.arange(len(r)), np.arange(len(g)), rng)
    draws = [_mgeval_once(dr, dg, dx, _resample(len(r), rng), _resample(len(g), rng), rng) for _ in range(n_boot)]
    for key in ("overlap", "kl"):
        result[f"{key}_ci"] = bias_corrected_interval([d[key] for d in draws], result[key], confidence=confidence)
    return result


def _resample(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn with replacement, redrawn until at least two differ (for ``n >= 2``)."""
    while True:
        draw = rng.integers(0, n, n)
        if n < 2 or (draw != draw[0]).any():
            return draw


def _percentiles(values: list[float], confidence: float) -> list[float]:
    """The central ``confidence`` percentile interval of ``values``."""
    tail = 50.0 * (1.0 - confidence)
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100.0 - tail))]


def bias_corrected_interval(draws: list[float], estimate: float, *, confidence: float = 0.95) -> list[float]:
    """Bias-corrected (BC) percentile bootstrap interval (Efron 1987) of ``estimate``.

    The percentiles are shifted by ``z0 = Phi^-1(share of draws below the estimate)`` (ties
    count half), so the interval follows a statistic whose bootstrap draws sit off-centre.
    """
    from scipy.stats import norm

    draws_arr = np.asarray(draws, dtype=np.float64)
    n = len(draws_arr)
    below = (np.sum(draws_arr < estimate) + 0.5 * np.sum(draws_arr == estimate)) / n
    z0 = float(norm.ppf(np.clip(below, 1.0 / (n + 1), n / (n + 1.0))))
    z = float(norm.ppf(0.5 + confidence / 2.0))
    low, high = norm.cdf(2 * z0 - z), norm.cdf(2 * z0 + z)
    return [float(np.percentile(draws_arr, 100 * low)), float(np.percentile(draws_arr, 100 * high))]


def _frechet(r: np.ndarray, g: np.ndarray, eps: float) -> float:
    """Fréchet distance between Gaussians fitted to rows of ``r`` and of ``g``."""
    from scipy.linalg import sqrtm

    mu_r, mu_g = r.mean(0), g.mean(0)
    cov_r, cov_g = np.atleast_2d(np.cov(r, rowvar=False)), np.atleast_2d(np.cov(g, rowvar=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        root = sqrtm(cov_r @ cov_g)
    if caught or not np.isfinite(root).all():  # a singular product: shift both covariances by eps * I
        shift = eps * np.eye(len(cov_r))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            root = sqrtm((cov_r + shift) @ (cov_g + shift))
    value = float(np.sum((mu_r - mu_g) ** 2) + np.trace(cov_r) + np.trace(cov_g) - 2.0 * np.trace(root.real))
    return max(value, 0.0)


def frechet_distance(
    real: np.ndarray,
    generated: np.ndarray,
    *,
    standardize: bool = True,
    eps: float = 1e-6,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float | list[float]]:
    """Fréchet distance ``|mu_r - mu_g|^2 + tr(C_r + C_g - 2 (C_r C_g)^(1/2))`` of Gaussian fits.

    ``real``: feature vectors ``shape=(n_real, d)``; ``generated``: ``shape=(n_generated, d)``.
    With ``standardize`` both sets are scaled by the real set's per-feature mean and standard
    deviation, so features in different units weigh alike and the number is unit-free. A
    singular or non-finite matrix square root is retried with ``eps`` added to both covariances' diagonals.
    Returns ``value``, ``bias`` (bootstrap mean minus ``value``: a finite sample of identical
    distributions still scores above 0) and ``ci``, the basic (bias-corrected) bootstrap interval
    ``[2 value - q_high, 2 value - q_low]`` over resampled items, clipped at 0; because of the
    correction it can lie below ``value``.
    """
    r, g = _rows(real, "real"), _rows(generated, "generated")
    if r.shape[1] != g.shape[1]:
        raise TunesmithError(f"real has {r.shape[1]} features per item, generated {g.shape[1]}")
    if standardize:
        centre, scale = r.mean(0), r.std(0)
        scale[scale == 0] = 1.0
        r, g = (r - centre) / scale, (g - centre) / scale
    rng = np.random.default_rng(seed)
    value = _frechet(r, g, eps)
    draws = [
        _frechet(r[rng.integers(0, len(r), len(r))], g[rng.integers(0, len(g), len(g))], eps) for _ in range(n_boot)
    ]
    low, high = _percentiles(draws, confidence)
    bias = float(np.mean(draws)) - value
    return {"value": value, "ci": [max(2 * value - high, 0.0), max(2 * value - low, 0.0)], "bias": bias}


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> list[float]:
    """Wilson score interval ``[low, high]`` for a binomial proportion ``successes / trials``."""
    from scipy.stats import norm

    if trials <= 0:
        raise TunesmithError("a binomial interval needs at least one trial")
    z = float(norm.ppf(0.5 + confidence / 2.0))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return [max(min(centre - half, p), 0.0), min(max(centre + half, p), 1.0)]  # holds p despite rounding


def two_sample_accuracy(
    real: np.ndarray, generated: np.ndarray, *, folds: int = 5, seed: int = 0, confidence: float = 0.95
) -> dict[str, float | int | list[float]]:
    """Classifier two-sample test: how well a logistic regression tells generated from real.

    ``real``: feature vectors ``shape=(n_real, d)``; ``generated``: ``shape=(n_generated, d)``.
    The larger set is subsampled (seeded) to the smaller one's size, so chance is exactly 0.5.
    Features are standardized inside each of ``folds`` stratified cross-validation folds
    (fewer when a set is smaller). Returns ``accuracy`` (out-of-fold), ``ci`` (Wilson interval),
    ``n`` (items classified) and ``folds``. Near 0.5: indistinguishable; near 1: separable.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    r, g = _rows(real, "real"), _rows(generated, "generated")
    rng = np.random.default_rng(seed)
    n = min(len(r), len(g))
    r, g = r[np.sort(rng.permutation(len(r))[:n])], g[np.sort(rng.permutation(len(g))[:n])]
    x = np.concatenate([r, g])
    y = np.repeat([0, 1], n)
    k = max(2, min(folds, n))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    split = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    predicted = cross_val_predict(model, x, y, cv=split)
    correct = int((predicted == y).sum())
    return {
        "accuracy": correct / len(y),
        "ci": wilson_interval(correct, len(y), confidence=confidence),
        "n": len(y),
        "folds": k,
    }
