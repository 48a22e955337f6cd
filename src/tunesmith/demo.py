"""The built-in demos: Bach chorales in, new chorales out.

The note demo writes MIDI, WAV (SoundFont rendering), piano rolls and a loss curve; the audio
demo trains on the same chorales rendered to sound and writes WAV, waveform and spectrogram
pictures of new clips (their log-mel frames turned back into sound by Griffin-Lim).
"""

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
from .utils import check_output_dir

log = logging.getLogger(__name__)


NOTE_LENGTH = 128
"""Frames of a generated note piece: 128 eighth notes, 16 bars of 4/4."""
AUDIO_LENGTH = 375
"""Frames of a generated audio clip: 6 s at 16 kHz with a hop of 256 samples."""


@dataclass
class DemoResult:
    run_dir: Path
    training: TrainResult
    pieces: list[dict[str, Path]]
    seconds: float


def demo_config_path(*, audio: bool = False) -> Path:
    """The packaged config of the note demo, or of the audio demo."""
    return Path(str(files("tunesmith") / "configs" / ("demo-audio.yaml" if audio else "demo.yaml")))


def run_demo(
    out_dir: str | Path,
    *,
    num: int = 4,
    length: int | None = None,
    temperature: float = 0.8,
    top_p: float = 0.9,
    minutes: float | None = None,
    max_pieces: int | None = None,
    seed: int = 0,
    progress: bool = True,
    audio: bool = False,
) -> DemoResult:
    """Prepare the music21 Bach chorales, train a small LSTM, generate ``num`` chorales of
    ``length`` frames (default: 128 eighth notes, or 6 s of audio), and write them under ``out_dir/generated``.

    Notes (default): MIDI, WAV and piano-roll plots. ``temperature`` 0.8 with ``top_p`` 0.9
    gives about as many sounding keys per frame as the chorales have
    (``benchmarks/sampling_density.py``); at 1.0 the rolls come out twice as dense.
    ``max_pieces`` trains on the first chorales only (a quick trial). ``audio``: the chorales
    rendered to sound (60 of them, 16 kHz) as log-mel frames; each new clip is written as WAV
    with its mel spectrogram and its waveform as PNG.
    """
    started = time.monotonic()
    length = length or (AUDIO_LENGTH if audio else NOTE_LENGTH)
    out_dir = Path(out_dir)
    if (out_dir / "run").exists():
        raise TunesmithError(f"{out_dir} already holds a demo run; choose another --out or remove it")
    check_output_dir(out_dir)
    overrides = [f"train.max_minutes={minutes}"] if minutes is not None else []
    if max_pieces is not None:
        overrides.append(f"data.max_pieces={max_pieces}")
    config = load_config(demo_config_path(audio=audio), overrides)
    result = train(config, out_dir / "run", progress=progress)
    run = load_run(out_dir / "run")
    if audio:  # a continuous head: temperature scales the spread of each frame; no nucleus
        items = generate(run, num=num, length=length, temperature=temperature, seed=seed, progress=progress)
    else:
        items = generate(run, num=num, length=length, temperature=temperature, top_p=top_p, seed=seed, program=19)
    written = write_pieces(items, out_dir / "generated", run.representation)
    if audio:
        from .audio.plots import plot_audio

        for files in written:
            wav = files["audio"]
            files["waveform"] = plot_audio(wav, wav.with_name(f"{wav.stem}-waveform.png"), kind="waveform")
    return DemoResult(out_dir / "run", result, written, time.monotonic() - started)
