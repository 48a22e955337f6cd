"""MIDI -> audio with a General MIDI SoundFont: the FluidSynth program when installed, else symusic."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import subprocess
import tempfile
from functools import partial
from importlib.resources import files
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError, DependencyError, TunesmithError
from .io import MAX_SECONDS, format_duration
from .soundfont import fix_root_keys
from .utils import atomic_write, one_line, usable_cache_dir

log = logging.getLogger("tunesmith.synthesis")

BACKENDS = ("auto", "fluidsynth", "symusic")
SYSTEM_SOUNDFONTS = (  # Debian/Ubuntu (fluid-soundfont-gm, musescore-general-soundfont), Arch, Fedora
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)


def default_soundfont() -> Path:
    """The small General MIDI SoundFont ``TimGM6mb.sf2`` that ``pretty_midi`` (a dependency) ships."""
    return Path(str(files("pretty_midi") / "TimGM6mb.sf2"))


def system_soundfont() -> Path | None:
    """A General MIDI SoundFont installed by the system (e.g. Debian's ``fluid-soundfont-gm``), or None."""
    return next((Path(p) for p in SYSTEM_SOUNDFONTS if Path(p).is_file()), None)


def render(
    midi_path: str | Path,
    wav_path: str | Path,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = 44100,
    backend: str = "auto",
    max_seconds: float = MAX_SECONDS,
) -> Path:
    """Render a MIDI file to a 16-bit PCM stereo WAV file at ``sample_rate`` Hz; return its path.

    ``backend="auto"`` uses FluidSynth if installed and a SoundFont is at hand (``soundfont`` or
    :func:`system_soundfont`), else symusic with ``soundfont`` or :func:`default_soundfont`.
    FluidSynth adds a reverb tail; symusic stops at the last note-off. The WAV is written
    atomically (a failed render leaves ``wav_path`` as it was). A MIDI file without notes gives
    silence as long as the file (at least 1 s), so an empty generated piece still plays.
    Tempos that are not positive and finite are ignored (120 qpm applies where none is left).
    A MIDI file longer than ``max_seconds`` (seconds; :data:`tunesmith.io.MAX_SECONDS`) is
    refused before anything is synthesized.

    Raises DataError for a missing, empty, corrupt or too long MIDI file or a bad SoundFont,
    DependencyError if FluidSynth is asked for but not installed, ConfigError for an unknown
    backend, sample rate or ``max_seconds``, TunesmithError if ``wav_path`` is a folder.
    """
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    if not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise ConfigError(f"max_seconds must be a positive number of seconds, got {max_seconds!r}")
    if wav_path.is_dir():
        raise TunesmithError(f"{wav_path} is a folder; give the path of the .wav file to write")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown synthesis backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or not 8000 <= sample_rate <= 192000
    ):
        raise ConfigError(f"sample_rate must be an integer from 8000 to 192000 Hz, got {sample_rate!r}")
    backend, sf_path = _choose(backend, soundfont)
    sample_rate = int(sample_rate)
    check_soundfont(sf_path)
    score = _load_score(midi_path)
    repaired = _drop_invalid_tempos(score, midi_path)
    seconds = float(score.to("second").end())
    if not seconds <= max_seconds:
        raise DataError(
            midi_path,
            f"lasts {format_duration(seconds)}, over the limit of {format_duration(max_seconds)} (max_seconds)",
        )
    if score.note_num() == 0:
        log.warning("%s has no notes: writing silence", midi_path)
        silence = np.zeros((round(max(seconds, 1.0) * sample_rate), 2), np.float32)
        return atomic_write(wav_path, partial(_write_pcm16, audio=silence, sample_rate=sample_rate))
    log.debug("rendering %s with %s, SoundFont %s, %d Hz", midi_path, backend, sf_path, sample_rate)
    render_with = _render_fluidsynth if backend == "fluidsynth" else _render_symusic
    write = partial(
        render_with, midi_path=midi_path, score=score, sf_path=sf_path, sample_rate=sample_rate, repaired=repaired
    )
    return atomic_write(wav_path, write)


def _drop_invalid_tempos(score, midi_path: Path) -> bool:
    """Remove tempos that are not positive and finite (e.g. 0 microseconds per quarter) from a
    symusic score; return whether any were removed."""
    bad = sum(1 for t in score.tempos if not (math.isfinite(t.qpm) and t.qpm > 0))
    if bad:
        log.warning("%s: ignoring %d invalid tempo(s)", midi_path, bad)
        score.tempos.filter(lambda t: math.isfinite(t.qpm) and t.qpm > 0, inplace=True)
    return bad > 0


def check_soundfont(path: str | Path) -> Path:
    """Return ``path`` as a Path if it is a file that starts like a SoundFont (``RIFF....sfbk``).

    Raises:
        DataError: missing, empty, or no SoundFont header.
    """
    path = Path(path)
    if _read(path, "SoundFont", size=12, magic=b"RIFF")[8:] != b"sfbk":
        raise DataError(path, "not a SoundFont (no RIFF 'sfbk' header)")
    return path


def _choose(backend: str, soundfont: str | Path | None) -> tuple[str, Path]:
    """Pick the backend and the SoundFont it will use."""
    given = Path(soundfont) if soundfont is not None else None
    has_fluidsynth = shutil.which("fluidsynth") is not None
    if backend == "fluidsynth" and not has_fluidsynth:
        raise DependencyError(
            "fluidsynth not installed: apt-get install fluidsynth fluid-soundfont-gm (or use backend='symusic')"
        )
    if backend == "fluidsynth" or (backend == "auto" and has_fluidsynth and (given or system_soundfont())):
        return "fluidsynth", given or system_soundfont() or default_soundfont()
    return "symusic", given or default_soundfont()


def _read(path: Path, what: str, *, size: int = -1, magic: bytes = b"") -> bytes:
    """The first ``size`` bytes of ``path`` (all if -1); DataError if missing, empty or without ``magic``."""
    if not path.is_file():
        raise DataError(path, f"{what} not found")
    with open(path, "rb") as handle:
        data = handle.read(size)
    if not data or not data.startswith(magic):
        raise DataError(path, f"not a {what} (no {magic.decode()} header)" if data else f"empty {what}")
    return data


def _load_score(path: Path):
    """Read a MIDI file with symusic; DataError if it is missing, empty, truncated or corrupt."""
    data, at = _read(path, "MIDI file", magic=b"MThd"), 0
    while at + 8 <= len(data) and data[at : at + 4] in (b"MThd", b"MTrk"):  # symusic may read past a cut chunk
        at += 8 + int.from_bytes(data[at + 4 : at + 8], "big")
        if at > len(data):
            raise DataError(path, f"truncated MIDI file ({len(data)} bytes, its chunks need {at})")
    try:
        import symusic
    except ModuleNotFoundError as exc:
        raise DependencyError("reading MIDI for synthesis needs symusic: pip install 'symusic>=0.5.9,<0.6'") from exc
    try:
        return symusic.Score.from_midi(data)
    except (RuntimeError, ValueError) as exc:
        raise DataError(path, f"not a readable MIDI file ({one_line(str(exc))})") from exc


def _write_pcm16(tmp: Path, *, audio: np.ndarray, sample_rate: int) -> None:
    """Write float audio ``shape=(n_samples, channels)`` as 16-bit PCM WAV, scaled down if it would clip."""
    import soundfile

    peak = float(np.max(np.abs(audio), initial=0.0))
    audio = audio * (0.99 / peak) if peak > 1.0 else audio
    soundfile.write(str(tmp), audio, sample_rate, subtype="PCM_16", format="WAV")


def _render_fluidsynth(tmp: Path, *, midi_path: Path, score, sf_path: Path, sample_rate: int, repaired: bool) -> None:
    if repaired:  # fluidsynth reads the file itself: give it the score without the invalid tempos
        with tempfile.TemporaryDirectory(prefix="tunesmith-") as folder:
            copy = Path(folder) / midi_path.name
            copy.write_bytes(bytes(score.dumps_midi()))
            _run_fluidsynth(tmp, midi_path=copy, sf_path=sf_path, sample_rate=sample_rate)
    else:
        _run_fluidsynth(tmp, midi_path=midi_path, sf_path=sf_path, sample_rate=sample_rate)


def _run_fluidsynth(tmp: Path, *, midi_path: Path, sf_path: Path, sample_rate: int) -> None:
    # -ni: no MIDI input, no shell; -F: render to a file as fast as possible; -O s16: 16-bit PCM
    cmd = [
        "fluidsynth",
        "-ni",
        "-q",
        "-F",
        str(tmp),
        "-r",
        str(sample_rate),
        "-T",
        "wav",
        "-O",
        "s16",
        str(sf_path),
        str(midi_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or tmp.stat().st_size <= 44:
        raise TunesmithError(
            f"fluidsynth failed on {midi_path} (exit {proc.returncode}): {one_line(proc.stderr) or 'no message'}"
        )


def _render_symusic(tmp: Path, *, midi_path: Path, score, sf_path: Path, sample_rate: int, repaired: bool) -> None:
    import symusic  # importable: _load_score read the score with it

    try:
        synth = symusic.Synthesizer(str(_repaired(sf_path)), sample_rate, 0)
    except RuntimeError as exc:
        raise DataError(sf_path, f"symusic cannot load this SoundFont ({one_line(str(exc))})") from exc
    audio = synth.render(score, stereo=True)  # float32, shape=(2, n_samples)
    _write_pcm16(tmp, audio=np.ascontiguousarray(audio.T), sample_rate=sample_rate)


def _repaired(sf_path: Path) -> Path:
    """The copy of ``sf_path`` that symusic plays in tune, repaired once and kept in the cache
    (in the system's temporary folder when the cache folder cannot be written)."""
    stat = sf_path.stat()
    key = hashlib.sha1(f"{sf_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:20]
    root = usable_cache_dir() or Path(tempfile.gettempdir()) / f"tunesmith-{getattr(os, 'getuid', lambda: 0)()}"
    fixed = root / "soundfonts" / f"{key}{sf_path.suffix}"
    if not fixed.is_file():
        repaired = fix_root_keys(sf_path.read_bytes(), source=sf_path)
        atomic_write(fixed, lambda out: out.write_bytes(repaired))
    return fixed
