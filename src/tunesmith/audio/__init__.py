"""Recordings: reading and writing audio, spectral features, inversion back to sound, plots.

``tunesmith.audio.io`` reads WAV/FLAC/OGG/MP3 into :class:`Clip` objects,
``tunesmith.audio.fma`` finds the Free Music Archive's tracks by subset and genre,
``tunesmith.audio.features`` computes librosa's features (and a batched PyTorch mel/MFCC path),
``tunesmith.audio.inversion`` turns spectrograms back into sound with fast Griffin-Lim,
``tunesmith.audio.plots`` draws waveforms and spectrograms.
"""

from tunesmith.audio.io import (
    AUDIO_SUFFIXES,
    MAX_SECONDS,
    Clip,
    find_audio_files,
    is_silent,
    read_audio,
    read_audio_folder,
    write_wav,
)

__all__ = [
    "AUDIO_SUFFIXES",
    "MAX_SECONDS",
    "Clip",
    "find_audio_files",
    "is_silent",
    "read_audio",
    "read_audio_folder",
    "write_wav",
]
