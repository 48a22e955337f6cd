"""How far symusic 0.5.9 renders notes from their intended pitch, with and without the repair.

    python benchmarks/soundfont_tuning.py

Renders one note per (instrument, pitch) with symusic's synthesizer and pretty_midi's
TimGM6mb.sf2, as shipped and after ``tunesmith.soundfont.fix_root_keys``, finds the strongest
spectral peak and prints one JSON object: for each instrument and pitch, the distance in
semitones from that peak to the nearest harmonic of the intended fundamental (0 is in tune;
a note off by whole semitones lands between harmonics), plus the worst of each column.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import symusic

from tunesmith.soundfont import fix_root_keys
from tunesmith.synthesis import default_soundfont

SAMPLE_RATE = 44100
INSTRUMENTS = {"piano": 0, "guitar": 24, "violin": 40, "trumpet": 56, "flute": 73}
PITCHES = (36, 48, 60, 69, 84, 96)  # C2, C3, C4, A4, C6, C7


def strongest_peak(audio: np.ndarray) -> float:
    """Frequency (Hz) of the strongest peak above 40 Hz in the first second, ``audio`` ``shape=(2, n)``."""
    mono = audio.mean(axis=0)[:SAMPLE_RATE] * np.hanning(min(SAMPLE_RATE, audio.shape[1]))
    spectrum = np.abs(np.fft.rfft(mono, 8 * SAMPLE_RATE))
    freqs = np.fft.rfftfreq(8 * SAMPLE_RATE, 1 / SAMPLE_RATE)
    band = freqs > 40
    return float(freqs[band][np.argmax(spectrum[band])])


def semitones_off(peak: float, pitch: int) -> float:
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    harmonic = max(1, round(peak / f0))
    return 12 * math.log2(peak / (harmonic * f0))


def render_note(soundfont: Path, program: int, pitch: int) -> np.ndarray:
    score = symusic.Score(480)
    track = symusic.Track(program=program)
    track.notes.append(symusic.Note(0, 960, pitch, 100))
    score.tracks.append(track)
    return np.asarray(symusic.Synthesizer(str(soundfont), SAMPLE_RATE, 0).render(score, stereo=True))


def main() -> None:
    shipped = default_soundfont()
    with tempfile.TemporaryDirectory() as tmp:
        repaired = Path(tmp) / "repaired.sf2"
        repaired.write_bytes(fix_root_keys(shipped.read_bytes()))
        table = {
            name: {
                str(pitch): {
                    label: round(semitones_off(strongest_peak(render_note(sf, program, pitch)), pitch), 2)
                    for label, sf in (("shipped", shipped), ("repaired", repaired))
                }
                for pitch in PITCHES
            }
            for name, program in INSTRUMENTS.items()
        }
    worst = {
        label: max(abs(cell[label]) for notes in table.values() for cell in notes.values())
        for label in ("shipped", "repaired")
    }
    print(
        json.dumps({"soundfont": shipped.name, "symusic": symusic.__version__, "semitones_off": table, "worst": worst})
    )


if __name__ == "__main__":
    main()
