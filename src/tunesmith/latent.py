"""Latent interpolation with an autoencoder run: the library side of ``tunesmith interpolate``.

Two music files become frames with the run's representation (notes in their key-normalized
form when the run was trained that way; audio at the run's sample rate), their first window
(the model's trained phrase or patch length) is encoded to a latent vector, and the path between
the two vectors, spherical (``slerp``) in ``steps`` points including both ends, is decoded back
into frames and written with the representation's writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, DataError
from .models import MODELS
from .models.vae import slerp
from .run import Run, _primer, load_run, write_pieces
from .utils import check_output_dir

__all__ = [
    "check_inputs",
    "encode_file",
    "interpolate",
    "interpolate_files",
    "interpolation_names",
    "latent_models",
    "note_f1",
]


def latent_models() -> list[str]:
    """Names of the registered families with a latent space (autoencoders)."""
    return [name for name, cls in MODELS.items() if cls.latent]


def note_f1(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Note F1 per frame, ``2 TP / (2 TP + FP + FN)`` over (frame, key) pairs of two binary piano
    rolls of one shape ``shape=(T, K)`` (or with leading axes): 1 for identical rolls; two silent
    rolls score 1 too (nothing to find, nothing wrong)."""
    ref, est = np.asarray(reference) > 0.5, np.asarray(estimate) > 0.5
    if ref.shape != est.shape:
        raise ConfigError(f"note_f1: reference shape {ref.shape} differs from estimate shape {est.shape}")
    tp = int((ref & est).sum())
    wrong = int((ref ^ est).sum())
    return 1.0 if tp + wrong == 0 else 2 * tp / (2 * tp + wrong)


def input_suffixes() -> tuple[str, ...]:
    """Every suffix an interpolation end may have: music files (notes) and audio files."""
    from .audio.io import AUDIO_SUFFIXES
    from .io import SUFFIXES

    return (*SUFFIXES, *AUDIO_SUFFIXES)


def check_inputs(a: str | Path, b: str | Path, *, steps: int, out: str | Path) -> None:
    """Check the arguments of an interpolation before any run is loaded: both files exist and
    have a music or audio suffix, ``steps`` >= 2, ``out`` is a writable folder.

    Raises:
        DataError: a missing file. ConfigError: a wrong suffix or too few steps.
        TunesmithError: ``out`` is not writable.
    """
    for label, path in (("A", a), ("B", b)):
        path = Path(path)
        if not path.is_file():
            raise DataError(path, f"{label}: file not found" if not path.exists() else f"{label}: not a regular file")
        if path.suffix.lower() not in input_suffixes():
            raise ConfigError(
                f"{label} {path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
                f"use one of {', '.join(input_suffixes())}"
            )
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2 (both ends are included), got {steps}")
    check_output_dir(out)


def _check_latent(run: Run) -> None:
    if not getattr(run.model, "latent", False):
        names = ", ".join(latent_models())
        raise ConfigError(f"model {run.model.name} has no latent space; interpolate needs an autoencoder: {names}")


def encode_file(run: Run, path: str | Path | Any) -> tuple[torch.Tensor, np.ndarray, dict[str, Any]]:
    """The latent vector ``mu`` ``shape=(Z,)`` of the first window of a music or audio file (or a
    Piece / Clip), that window's frames ``shape=(W, D)`` (zero-padded when the file is shorter)
    and what decoding needs to stay in its key and tempo (``shift``, ``qpm``)."""
    _check_latent(run)
    rep, model = run.representation, run.model
    label = str(path)
    if isinstance(path, (str, Path)):
        if Path(path).suffix.lower() not in rep.input_suffixes():
            kind = "an audio file" if rep.domain == "audio" else "a music file (MIDI, MusicXML, ABC)"
            raise ConfigError(f"{path}: this run models {rep.domain}, so each end must be {kind}")
    frames, context = _primer(path, rep)
    if len(frames) == 0:
        raise DataError(label, "holds no notes or sound to encode")
    size = model.window_size()
    window = np.zeros((size, rep.n_features), np.float32)
    window[: min(size, len(frames))] = frames[:size]
    mask = np.zeros(size, np.float32)
    mask[: min(size, len(frames))] = 1.0
    device = next(model.parameters()).device
    mu = model.encode(torch.from_numpy(window)[None].to(device), torch.from_numpy(mask)[None].to(device))
    return mu[0], window, {"qpm": run.qpm, **context}


def interpolate(
    model: Any, z_a: torch.Tensor, z_b: torch.Tensor, *, steps: int, length: int, repair: Any = None
) -> np.ndarray:
    """Decode ``steps`` points of the spherical path from ``z_a`` to ``z_b`` ``shape=(Z,)`` (both ends
    included; linear for nearly parallel vectors): frames ``shape=(steps, length, D)``, greedy."""
    if steps < 2:
        raise ConfigError(f"steps must be at least 2, got {steps}")
    t = torch.linspace(0.0, 1.0, steps, device=z_a.device).unsqueeze(-1)
    path = slerp(z_a.expand(steps, -1), z_b.expand(steps, -1), t)
    return model.decode(path, length, temperature=0.0, repair=repair).float().cpu().numpy()


def interpolation_names(steps: int) -> list[str]:
    """``interp-00``, ``interp-01``, ...: the names of the decoded points, in order."""
    return [f"interp-{i:02d}" for i in range(steps)]


def interpolate_files(
    run_dir: str | Path,
    a: str | Path,
    b: str | Path,
    *,
    steps: int = 5,
    out: str | Path,
    checkpoint: str = "best",
    device: str = "cpu",
    audio: bool = True,
    plot: bool = True,
    soundfont: str | Path | None = None,
    overwrite: bool = False,
) -> list[dict[str, Path]]:
    """Interpolate between music files ``a`` and ``b`` with the autoencoder run at ``run_dir``:
    write ``interp-00`` (``a`` decoded) ... ``interp-{steps-1}`` (``b`` decoded) into ``out`` with
    the representation's writer (MIDI, WAV, piano roll for notes; WAV and spectrogram for
    audio) and return the files of each. Notes are written in the key and tempo of ``a``.

    Raises:
        ConfigError: bad arguments (see :func:`check_inputs`) or a run without a latent space.
    """
    check_inputs(a, b, steps=steps, out=out)
    run = load_run(run_dir, checkpoint=checkpoint, device=device)
    _check_latent(run)
    z_a, _, context = encode_file(run, a)
    z_b, _, _ = encode_file(run, b)
    rep = run.representation
    frames = interpolate(run.model, z_a, z_b, steps=steps, length=run.model.window_size(), repair=rep.repair)
    decode_context = {k: v for k, v in context.items() if k in ("qpm", "shift")} if rep.domain == "notes" else {}
    items = [rep.decode(f, name=name, **decode_context) for f, name in zip(frames, interpolation_names(steps))]
    settings = {"run": str(run_dir), "a": str(a), "b": str(b), "steps": steps, "path": "slerp"}
    return write_pieces(
        items, out, rep, audio=audio, plot=plot, soundfont=soundfont, settings=settings, overwrite=overwrite
    )
