"""Key estimation (Krumhansl-Schmuckler) and transposition of pieces."""

from __future__ import annotations

import numpy as np

from ..music import Note, Piece, Track

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(piece: Piece) -> tuple[int, str]:
    """Estimated ``(tonic pitch class, "major" | "minor")`` from duration-weighted pitch classes."""
    histogram = np.zeros(12)
    for track in piece.tracks:
        if track.is_drum:
            continue
        for note in track.notes:
            histogram[note.pitch % 12] += note.duration
    if not histogram.any():
        return 0, "major"
    best = (-2.0, 0, "major")
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def transpose_piece(piece: Piece, semitones: int) -> Piece:
    """A copy of ``piece`` with every pitched (non-drum) note moved by ``semitones``."""
    tracks = [
        Track(
            t.notes if t.is_drum else [Note(n.time, n.pitch + semitones, n.duration, n.velocity) for n in t.notes],
            t.program,
            t.is_drum,
            t.name,
        )
        for t in piece.tracks
    ]
    return Piece(tracks, list(piece.tempos), piece.name, piece.source)


def normalize_key(piece: Piece) -> tuple[Piece, int]:
    """Transpose so the estimated tonic is C, by the smallest shift (-6..+5 semitones).

    Returns the transposed piece and the shift applied.
    """
    tonic, _ = estimate_key(piece)
    shift = -tonic if tonic <= 6 else 12 - tonic
    return transpose_piece(piece, shift), shift
