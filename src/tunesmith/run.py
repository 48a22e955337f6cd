"""A trained run as an object: load it, generate pieces with it, write them out.

These are the functions behind ``tunesmith generate``; the CLI only parses arguments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from .config import config_from_dict
from .errors import CheckpointError, TunesmithError
from .models import SequenceModel, model_from_spec
from .music import Piece, Tempo
from .representation import (
    PianoRoll,
    PianoRollConfig,
    from_pianoroll,
    make_consistent,
    normalize_key,
    to_pianoroll,
    transpose_piece,
)
from .sampling import sample_frames
from .training.checkpoint import load_checkpoint
from .utils import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class Run:
    """A trained model with the representation it was trained on.

    ``info`` holds the checkpoint's progress: epoch, step, best_valid_nll, best_epoch, and for an
    ensemble its members (seed, best_valid_nll, best_epoch of each).
    """

    path: Path
    model: SequenceModel
    representation: PianoRollConfig
    qpm: float
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)


def load_run(run_dir: str | Path, *, checkpoint: str = "best", device: str = "cpu") -> Run:
    """Load ``run_dir/checkpoints/{checkpoint}.pt`` (``best`` or ``last``, or a ``.pt`` path)
    onto ``device`` ("cpu", "cuda", "auto": CUDA when available)."""
    from .training.distributed import pick_device

    device = str(pick_device(device))
    run_dir = Path(run_dir)
    path = Path(checkpoint) if checkpoint.endswith(".pt") else run_dir / "checkpoints" / f"{checkpoint}.pt"
    if not run_dir.exists() and not path.exists():
        raise CheckpointError(f"{run_dir}: run directory not found")
    payload = load_checkpoint(path, map_location=device)
    try:
        representation = PianoRollConfig(**payload["representation"])
        config = payload["config"]
        config_from_dict(config)  # still a valid config for this version of tunesmith
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: checkpoint description is unusable: {exc}") from exc
    model = model_from_spec(payload["model"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit model {model.name}: {exc}") from exc
    model.to(device).eval()
    keys = ("epoch", "step", "best_valid_nll", "best_epoch", "members", "tunesmith_version")
    info = {k: payload.get(k) for k in keys}
    return Run(run_dir, model, representation, float(payload.get("qpm", 120.0)), config, info)


def generate(
    run: Run,
    *,
    num: int = 4,
    length: int = 256,
    temperature: float = 1.0,
    top_p: float = 1.0,
    primer: str | Path | Piece | None = None,
    seed: int | None = None,
    program: int = 0,
    progress: bool = False,
) -> list[Piece]:
    """Sample ``num`` pieces of ``length`` new frames each (any length).

    With a ``primer`` (a music file or a Piece), each piece continues it: the primer's frames
    come first, in the primer's key and tempo. Returns the pieces as one-track Pieces.
    """
    rep = run.representation
    primer_roll, shift, qpm = None, 0, run.qpm
    if primer is not None:
        from .io import read_piece

        piece = primer if isinstance(primer, Piece) else read_piece(primer)
        if rep.normalize_key:
            piece, shift = normalize_key(piece)
        primer_roll = to_pianoroll(piece, rep).frames
        qpm = piece.tempos[0].qpm if piece.tempos else qpm
    frames = sample_frames(
        run.model,
        num=num,
        length=length,
        temperature=temperature,
        top_p=top_p,
        primer=primer_roll,
        seed=seed,
        repair=partial(make_consistent, config=rep),
        progress=progress,
    )
    pieces = []
    for index, roll in enumerate(frames):
        name = f"piece-{index + 1:02d}"
        piece = from_pianoroll(PianoRoll(roll, rep, [Tempo(0.0, qpm)], name), program=program, is_drum=rep.drums)
        pieces.append(transpose_piece(piece, -shift) if shift else piece)
    return pieces


def write_pieces(
    pieces: list[Piece],
    out_dir: str | Path,
    representation: PianoRollConfig,
    *,
    audio: bool = True,
    plot: bool = True,
    soundfont: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> list[dict[str, Path]]:
    """Write each piece as ``NAME.mid`` and, if asked, ``NAME.wav`` and a piano-roll ``NAME.png``.

    ``settings`` (how the pieces were made) goes to ``generation.yaml`` beside them. Pieces
    already in ``out_dir`` under the same names are kept unless ``overwrite``.
    """
    from .io import write_midi

    out_dir = Path(out_dir)
    clashes = [str(out_dir / f"{p.name}.mid") for p in pieces if (out_dir / f"{p.name}.mid").exists()]
    if clashes and not overwrite:
        raise TunesmithError(f"{out_dir} already holds {clashes[0]}; choose another output folder or overwrite")
    if settings is not None:
        atomic_write_text(out_dir / "generation.yaml", yaml.safe_dump(settings, sort_keys=False))
    written = []
    for piece in pieces:
        files = {"midi": write_midi(piece, out_dir / f"{piece.name}.mid")}
        if audio:
            from .synthesis import render

            files["audio"] = render(files["midi"], out_dir / f"{piece.name}.wav", soundfont=soundfont)
        if plot:
            from .plots import plot_piano_roll

            roll = to_pianoroll(piece, representation)
            files["plot"] = plot_piano_roll(
                roll.hold,
                out_dir / f"{piece.name}.png",
                lowest_pitch=representation.lowest_pitch,
                step_label=representation.step,
                onsets=roll.onset,
                title=piece.name,
            )
        written.append(files)
    return written
