"""Metrics: small pure functions of arrays or pieces, registered by name.

``METRICS`` maps a name to a :class:`Metric`: the function and its kind.

- ``"signal"`` (:mod:`~tunesmith.metrics.signal`): a reference and an estimated clip,
  spectrogram or feature matrix -> a number;
- ``"symbolic"`` (:mod:`~tunesmith.metrics.symbolic`): one piece (or two tracks) -> a number
  or an array;
- ``"distribution"`` (:mod:`~tunesmith.metrics.distribution`,
  :mod:`~tunesmith.metrics.memorization`): two sets -> a distance with a confidence interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunesmith.metrics import signal, symbolic
from tunesmith.metrics.distribution import frechet_distance, mgeval, two_sample_accuracy
from tunesmith.metrics.memorization import memorization
from tunesmith.metrics.signal import (
    correlation,
    log_spectral_distance,
    mel_cepstral_distortion,
    mse,
    psnr,
    snr,
    spectral_convergence,
    total_harmonic_distortion,
)
from tunesmith.metrics.symbolic import piece_statistics

KINDS = ("signal", "symbolic", "distribution")


@dataclass(frozen=True)
class Metric:
    """A registered metric: its name, its function and its kind (one of :data:`KINDS`)."""

    name: str
    function: Callable
    kind: str


METRICS: dict[str, Metric] = {}


def register(name: str, function: Callable, kind: str) -> None:
    """Add ``function`` to :data:`METRICS` under ``name``."""
    if kind not in KINDS:
        raise ValueError(f"metric kind must be one of {', '.join(KINDS)}, got {kind!r}")
    METRICS[name] = Metric(name, function, kind)


def metrics_of(kind: str) -> dict[str, Callable]:
    """The registered functions of one kind, by name."""
    return {m.name: m.function for m in METRICS.values() if m.kind == kind}


for _module, _kind in ((signal, "signal"), (symbolic, "symbolic")):
    for _name in _module.__all__:
        register(_name, getattr(_module, _name), _kind)
for _function in (mgeval, frechet_distance, two_sample_accuracy, memorization):
    register(_function.__name__, _function, "distribution")
del _module, _kind, _name, _function

__all__ = [
    "KINDS",
    "METRICS",
    "Metric",
    "correlation",
    "frechet_distance",
    "log_spectral_distance",
    "mel_cepstral_distortion",
    "memorization",
    "metrics_of",
    "mgeval",
    "mse",
    "piece_statistics",
    "psnr",
    "register",
    "snr",
    "spectral_convergence",
    "total_harmonic_distortion",
    "two_sample_accuracy",
]
