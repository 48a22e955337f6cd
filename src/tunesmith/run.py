"""A trained run as an object: load it, generate pieces or clips with it, write them out.

These are the functions behind ``tunesmith generate``; the CLI only parses arguments. A run
holds its representation (with the statistics it was trained with), so the same calls serve
note runs (pieces -> MIDI, WAV, piano roll) and audio runs (clips -> WAV, spectrogram).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .config import config_from_dict
from .errors import CheckpointError, ConfigError, OutputError
from .models import SequenceModel, model_from_spec
from .representation import Representation, representation_from_spec
from .sampling import piece_name, sample_items
from .training.checkpoint import load_checkpoint
from .utils import atomic_write_text, check_output_dir

log = logging.getLogger(__name__)


@dataclass
class Run:
    """A trained model with the representation it was trained on.

    ``meta`` holds what decoding needs beyond the representation (``qpm``, the source's typical
    tempo). ``info`` holds the checkpoint's progress: epoch, step, best_metric, best_value,
    best_epoch, and for an ensemble its members (seed, best_valid_nll, best_epoch of each).
    """

    path: Path
    model: SequenceModel
    representation: Representation
    config: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def qpm(self) -> float:
        return float(self.meta.get("qpm", 120.0))


def load_run(run_dir: str | Path, *, checkpoint: str = "best", device: str = "cpu") -> Run:
    """Load ``run_dir/checkpoints/{checkpoint}.pt`` (``best`` or ``last``, or a ``.pt`` path)
    onto ``device`` ("cpu", "cuda", "auto": CUDA when available). Format-1 checkpoints of
    earlier tunesmith versions are migrated on load."""
    from .training.distributed import resolve_device

    device = str(resolve_device(device, what="--device"))
    run_dir = Path(run_dir)
    path = Path(checkpoint) if checkpoint.endswith(".pt") else run_dir / "checkpoints" / f"{checkpoint}.pt"
    if not run_dir.exists() and not path.exists():
        raise CheckpointError(f"{run_dir}: run directory not found")
    payload = load_checkpoint(path, map_location=device)
    try:
        config = payload["config"]
        config_from_dict(config)  # still a valid config for this version of tunesmith
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: checkpoint description is unusable: {exc}") from exc
    try:
        representation = representation_from_spec(payload["representation"])
        model = model_from_spec(payload["model"])
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit model {model.name}: {exc}") from exc
    model.to(device).eval()
    info = {**payload.get("progress", {}), "members": payload.get("members")}
    info["tunesmith_version"] = payload.get("tunesmith_version")
    if info.get("best_metric") == "nll":
        info["best_valid_nll"] = info.get("best_value")
    return Run(run_dir, model, representation, config, dict(payload.get("meta") or {}), info)


def generate(
    run: Run,
    *,
    num: int = 4,
    length: int = 256,
    temperature: float = 1.0,
    top_p: float = 1.0,
    primer: str | Path | Any | None = None,
    seed: int | None = None,
    program: int = 0,
    progress: bool = False,
) -> list[Any]:
    """Sample ``num`` pieces (note runs) or clips (audio runs) of ``length`` new frames each.

    With a ``primer`` (a music file or Piece for note runs; an audio file or Clip for audio
    runs), each one continues it: the primer's frames come first (for notes in the primer's key
    and tempo). ``program`` is the General MIDI program of generated notes.
    """
    rep = run.representation
    primer_frames, context = None, {"qpm": run.qpm, "program": program}
    if primer is not None:
        primer_frames, extra = _primer(primer, rep)
        context.update(extra)
    return sample_items(
        run.model,
        rep,
        num=num,
        length=length,
        temperature=temperature,
        top_p=top_p,
        primer=primer_frames,
        seed=seed,
        progress=progress,
        **context,
    )


def _primer(primer: Any, rep: Representation) -> tuple[np.ndarray, dict[str, Any]]:
    """The primer's model frames, and what decoding needs to stay in its key and tempo."""
    if rep.domain == "notes":
        from .io import SUFFIXES, read_piece
        from .music import Piece
        from .representation import normalize_key

        if not isinstance(primer, Piece):
            if Path(primer).suffix.lower() not in SUFFIXES:
                raise ConfigError(
                    f"--primer {primer}: this run makes notes, so the primer must be one of {', '.join(SUFFIXES)}"
                )
            primer = read_piece(primer)
        shift = 0
        if rep.config.normalize_key:
            primer, shift = normalize_key(primer)
        context = {"shift": shift}
        if primer.tempos:
            context["qpm"] = primer.tempos[0].qpm
        return rep.encode(primer), context
    from .audio.io import AUDIO_SUFFIXES, Clip, read_audio

    if not isinstance(primer, Clip):
        if Path(primer).suffix.lower() not in AUDIO_SUFFIXES:
            raise ConfigError(
                f"--primer {primer}: this run makes audio, so the primer must be one of {', '.join(AUDIO_SUFFIXES)}"
            )
        primer = read_audio(primer, sr=rep.sr)
    return rep.encode(primer), {}


def output_clashes(out_dir: str | Path, representation: Representation, num: int) -> list[Path]:
    """Files that writing ``num`` generated items into ``out_dir`` would replace."""
    out_dir = Path(out_dir)
    suffix = representation.output_suffixes()[0]
    return [out_dir / f"{piece_name(i)}{suffix}" for i in range(num) if (out_dir / f"{piece_name(i)}{suffix}").exists()]


def write_pieces(
    items: list[Any],
    out_dir: str | Path,
    representation: Representation,
    *,
    audio: bool = True,
    plot: bool = True,
    soundfont: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> list[dict[str, Path]]:
    """Write each generated piece or clip with its representation's writer: ``NAME.mid`` and,
    if asked, ``NAME.wav`` and a piano roll ``NAME.png`` for notes; ``NAME.wav`` and a
    spectrogram ``NAME.png`` for audio.

    ``settings`` (how they were made) goes to ``generation.yaml`` beside them. Items already in
    ``out_dir`` under the same names are kept unless ``overwrite``.
    """
    out_dir = check_output_dir(out_dir)
    suffix = representation.output_suffixes()[0]
    clashes = [out_dir / f"{item.name}{suffix}" for item in items if (out_dir / f"{item.name}{suffix}").exists()]
    if clashes and not overwrite:
        raise OutputError(
            f"{out_dir} already holds {clashes[0].name}; pass --overwrite to replace it or choose another --out"
        )
    if settings is not None:
        atomic_write_text(out_dir / "generation.yaml", yaml.safe_dump(settings, sort_keys=False))
    return [
        representation.write(item, out_dir / item.name, audio=audio, plot=plot, soundfont=soundfont) for item in items
    ]
