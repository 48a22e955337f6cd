"""MIDI -> audio with a General MIDI SoundFont: the FluidSynth program when installed, else symusic.

symusic 0.5.x ignores two SF2 tuning generators (``overridingRootKey`` and ``coarseTune``), so
most instruments of common SoundFonts (TimGM6mb, FluidR3_GM) come out several semitones off key
(symusic issue #55). Before rendering with symusic, a copy of the SoundFont is rewritten so that
each sample's own root key carries that tuning; the sound is unchanged, only the pitch is fixed.
"""

from __future__ import annotations

import logging
import shutil
import struct
import subprocess
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError, DependencyError, TunesmithError
from .utils import atomic_write

log = logging.getLogger("tunesmith.synthesis")

BACKENDS = ("auto", "fluidsynth", "symusic")
SYSTEM_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
)
_INSTALL_FLUIDSYNTH = "install it with `apt-get install fluidsynth fluid-soundfont-gm`"


def default_soundfont() -> Path:
    """The small General MIDI SoundFont ``TimGM6mb.sf2`` that ``pretty_midi`` ships."""
    try:
        from importlib.resources import files

        return Path(str(files("pretty_midi") / "TimGM6mb.sf2"))
    except ModuleNotFoundError as exc:
        raise DependencyError("the default SoundFont comes with pretty_midi: pip install pretty_midi") from exc


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
) -> Path:
    """Render a MIDI file to a 16-bit PCM stereo WAV file and return its path.

    ``backend="auto"`` uses FluidSynth when the program is installed and a SoundFont is at hand
    (``soundfont`` or a system one), otherwise symusic with ``soundfont`` or
    :func:`default_soundfont`. The file is written atomically: when rendering fails, whatever was
    at ``wav_path`` before is left untouched. A MIDI file without notes gives silence as long as
    the file (at least one second) rather than an error, so an empty generated piece still plays.
    FluidSynth adds its reverb tail after the last note; symusic stops at the last note's end.

    Raises DataError for a missing, empty or corrupt MIDI file or SoundFont, DependencyError when
    ``backend="fluidsynth"`` is asked for but not installed, ConfigError for an unknown backend.
    """
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    if backend not in BACKENDS:
        raise ConfigError(f"unknown synthesis backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 192000:
        raise ConfigError(f"sample_rate must be an integer between 8000 and 192000 Hz, got {sample_rate!r}")
    backend, sf_path = _choose(backend, soundfont)
    _check_soundfont(sf_path)
    score = _load_score(midi_path)
    if score.note_num() == 0:
        seconds = max(float(score.to("second").end()), 1.0)
        log.warning("%s has no notes: writing %.1f s of silence", midi_path, seconds)
        silence = np.zeros((round(seconds * sample_rate), 2), np.float32)
        return atomic_write(wav_path, partial(_write_pcm16, audio=silence, sample_rate=sample_rate))
    log.info("rendering %s with %s, SoundFont %s, %d Hz", midi_path, backend, sf_path, sample_rate)
    if backend == "fluidsynth":
        write = partial(_render_fluidsynth, midi_path=midi_path, sf_path=sf_path, sample_rate=sample_rate)
    else:
        write = partial(_render_symusic, score=score, sf_path=sf_path, sample_rate=sample_rate)
    return atomic_write(wav_path, write)


def _choose(backend: str, soundfont: str | Path | None) -> tuple[str, Path]:
    """Pick the backend and the SoundFont it will use."""
    given = Path(soundfont) if soundfont is not None else None
    if given is not None and not given.is_file():
        raise DataError(given, "SoundFont not found")
    has_fluidsynth = shutil.which("fluidsynth") is not None
    if backend == "fluidsynth":
        if not has_fluidsynth:
            raise DependencyError(f"the fluidsynth program is not installed; {_INSTALL_FLUIDSYNTH}")
        return "fluidsynth", given or system_soundfont() or default_soundfont()
    if backend == "auto" and has_fluidsynth and (given or system_soundfont()):
        return "fluidsynth", given or system_soundfont()
    return "symusic", given or default_soundfont()


def _check_soundfont(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "SoundFont not found")
    with open(path, "rb") as handle:
        head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise DataError(path, "not a SoundFont (no RIFF 'sfbk' header)")


def _import_symusic():
    try:
        import symusic
    except ModuleNotFoundError as exc:
        raise DependencyError("reading MIDI and the symusic backend need symusic: pip install 'symusic>=0.5.9,<0.6'") from exc
    return symusic


def _load_score(path: Path):
    """Read a MIDI file with symusic; DataError if it is missing, empty or corrupt."""
    if not path.is_file():
        raise DataError(path, "MIDI file not found")
    if path.stat().st_size == 0:
        raise DataError(path, "empty MIDI file")
    symusic = _import_symusic()
    try:
        return symusic.Score(str(path))
    except (RuntimeError, ValueError) as exc:
        raise DataError(path, f"not a readable MIDI file ({exc})") from exc


def _write_pcm16(tmp: Path, *, audio: np.ndarray, sample_rate: int) -> None:
    """Write float audio ``shape=(n_samples, channels)`` in [-1, 1] as 16-bit PCM WAV."""
    import soundfile

    peak = float(np.max(np.abs(audio), initial=0.0))
    if peak > 1.0:
        log.warning("audio peaks at %.2f: clipped to [-1, 1]", peak)
    soundfile.write(str(tmp), np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")


def _render_fluidsynth(tmp: Path, *, midi_path: Path, sf_path: Path, sample_rate: int) -> None:
    # -ni: no MIDI input, no shell; -F: render the file as fast as possible; -O s16: 16-bit PCM
    cmd = ["fluidsynth", "-ni", "-q", "-F", str(tmp), "-r", str(sample_rate), "-T", "wav", "-O", "s16",
           str(sf_path), str(midi_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or tmp.stat().st_size <= 44:
        detail = (proc.stderr or proc.stdout).strip()
        raise TunesmithError(f"fluidsynth could not render {midi_path} (exit {proc.returncode}): {detail}")


def _render_symusic(tmp: Path, *, score, sf_path: Path, sample_rate: int) -> None:
    symusic = _import_symusic()
    with tempfile.TemporaryDirectory(prefix="tunesmith-sf-") as folder:
        fixed = Path(folder) / f"tuned{sf_path.suffix}"
        fixed.write_bytes(fix_root_keys(sf_path.read_bytes(), source=sf_path))
        try:
            synth = symusic.Synthesizer(str(fixed), sample_rate, 0)
        except RuntimeError as exc:
            raise DataError(sf_path, f"symusic cannot load this SoundFont ({exc})") from exc
        audio = synth.render(score, stereo=True)  # float32, shape=(2, n_samples)
    _write_pcm16(tmp, audio=np.ascontiguousarray(audio.T), sample_rate=sample_rate)


def _riff_chunks(data: bytes | bytearray, start: int, end: int):
    """Yield ``(id, offset of the chunk's header, size)`` for the RIFF chunks in ``data[start:end]``."""
    while start + 8 <= end:
        cid, size = struct.unpack_from("<4sI", data, start)
        yield cid, start, size
        start += 8 + size + (size & 1)


def fix_root_keys(data: bytes, *, source: str | Path = "<soundfont>") -> bytes:
    """Return an SF2/SF3 SoundFont whose sample headers carry each zone's tuning, for symusic 0.5.x.

    Every instrument zone that sets ``overridingRootKey`` (generator 58) or ``coarseTune`` (51)
    gets its own copy of the sample header with ``byOriginalPitch`` = root key - coarse tune; the
    zone points at that copy, its coarse tune becomes 0 and its root key override the new root, so
    a synthesizer that honours the generators hears the same pitches as one that ignores them.
    """
    out = bytearray(data)
    try:
        pdta = next(o for c, o, _ in _riff_chunks(out, 12, len(out)) if c == b"LIST" and out[o + 8:o + 12] == b"pdta")
        pdta_size = struct.unpack_from("<I", out, pdta + 4)[0]
        sub = {c.decode("latin-1"): (o + 8, s) for c, o, s in _riff_chunks(out, pdta + 12, pdta + 8 + pdta_size)}
        inst = [struct.unpack_from("<20sH", out, sub["inst"][0] + i)[1] for i in range(0, sub["inst"][1], 22)]
        ibag = [struct.unpack_from("<H", out, sub["ibag"][0] + i)[0] for i in range(0, sub["ibag"][1], 4)]
        shdr_at, shdr_size = sub["shdr"]
    except (StopIteration, KeyError, struct.error) as exc:
        raise DataError(source, f"not a readable SoundFont (missing or cut {exc} data)") from exc
    headers = [bytes(out[shdr_at + i:shdr_at + i + 46]) for i in range(0, shdr_size, 46)]
    copies: dict[tuple[int, int], int] = {}
    for first_bag, end_bag in zip(inst[:-1], inst[1:]):
        global_root = None
        for bag in range(first_bag, end_bag):
            gens = {}  # generator -> (byte offset of the record, amount)
            for g in range(ibag[bag], ibag[bag + 1]):
                op, amount = struct.unpack_from("<Hh", out, sub["igen"][0] + 4 * g)
                gens[op] = (sub["igen"][0] + 4 * g, amount)
            if 53 not in gens:  # a zone without a sample is the instrument's global zone
                global_root = gens.get(58, (0, None))[1] if bag == first_bag else global_root
                continue
            at, sample = gens[53]
            sample &= 0xFFFF
            root = gens.get(58, (0, global_root))[1]
            root = headers[sample][40] if root is None or not 0 <= root <= 127 else root
            root = min(127, max(0, root - gens.get(51, (0, 0))[1]))
            if 51 in gens:
                struct.pack_into("<Hh", out, gens[51][0], 51, 0)
            if 58 in gens:
                struct.pack_into("<Hh", out, gens[58][0], 58, root)
            if root != headers[sample][40]:
                key = (sample, root)
                copies.setdefault(key, len(headers) - 1 + len(copies))
                struct.pack_into("<HH", out, at, 53, copies[key])
    extra = [bytes(headers[s][:40]) + bytes([r]) + headers[s][41:] for (s, r) in copies]
    shdr = b"".join(headers[:-1] + extra + headers[-1:])  # the last header is the terminal "EOS"
    out[shdr_at:shdr_at + shdr_size] = shdr
    struct.pack_into("<I", out, shdr_at - 4, len(shdr))
    struct.pack_into("<I", out, pdta + 4, pdta_size + len(shdr) - shdr_size)
    struct.pack_into("<I", out, 4, len(out) - 8)
    return bytes(out)
