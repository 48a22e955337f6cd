"""The built-in demo: Bach chorales in, new chorales out (MIDI, WAV, piano rolls, loss curve)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from .config import load_config
from .errors import TunesmithError
from .run import generate, load_run, write_pieces
from .training import TrainResult, train

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    run_dir: Path
    training: TrainResult
    pieces: list[dict[str, Path]]
    seconds: float


def demo_config_path() -> Path:
    return Path(str(files("tunesmith") / "configs" / "demo.yaml"))


def run_demo(
    out_dir: str | Path,
    *,
    num: int = 4,
    length: int = 128,
    temperature: float = 0.8,
    top_p: float = 0.9,
    minutes: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> DemoResult:
    """Prepare the music21 Bach chorales, train a small LSTM, generate ``num`` chorales of
    ``length`` frames, and write MIDI, WAV and piano-roll plots under ``out_dir/generated``.

    ``temperature`` 0.8 with ``top_p`` 0.9 gives about as many sounding keys per frame as the
    chorales have (``benchmarks/sampling_density.py``); at 1.0 the rolls come out twice as dense.
    """
    started = time.monotonic()
    out_dir = Path(out_dir)
    if (out_dir / "run").exists():
        raise TunesmithError(f"{out_dir} already holds a demo run; choose another --out or remove it")
    overrides = [f"train.max_minutes={minutes}"] if minutes is not None else []
    config = load_config(demo_config_path(), overrides)
    result = train(config, out_dir / "run", progress=progress)
    run = load_run(out_dir / "run")
    pieces = generate(run, num=num, length=length, temperature=temperature, top_p=top_p, seed=seed, program=19)
    written = write_pieces(pieces, out_dir / "generated", run.representation)
    return DemoResult(out_dir / "run", result, written, time.monotonic() - started)
