"""Train/valid/test splits by piece, without leakage between pieces that share a melody.

Two harmonizations of one hymn tune, or one file saved twice under two names, share their
melody. Pieces are grouped by a melody signature (recordings by a hash of their content) and
whole groups go to one split, chosen by a hash of the group's key: deterministic, and
independent of file order.
"""

from __future__ import annotations

import hashlib

from ..music import Piece, Track

SIGNATURE_NOTES = 24


def melody_track(piece: Piece) -> Track | None:
    """The melody: a track named soprano, else the pitched track with the highest mean pitch."""
    pitched = [t for t in piece.tracks if not t.is_drum and t.notes]
    if not pitched:
        return None
    for track in pitched:
        if "soprano" in track.name.lower():
            return track
    return max(pitched, key=lambda t: sum(n.pitch for n in t.notes) / len(t.notes))


def melody_signature(piece: Piece, *, notes: int = SIGNATURE_NOTES) -> str:
    """A transposition-invariant fingerprint of the opening of the melody.

    The top note at each onset of the melody track, repeated pitches merged, as intervals: the
    first ``notes`` of them. Coarse on purpose: a false match only keeps two pieces together.
    """
    track = melody_track(piece)
    if track is None:
        return "empty:" + piece.name
    top: dict[float, int] = {}
    for note in track.notes:
        top[note.time] = max(top.get(note.time, -1), note.pitch)
    line = [top[t] for t in sorted(top)]
    merged = [p for i, p in enumerate(line) if i == 0 or p != line[i - 1]]
    intervals = [b - a for a, b in zip(merged, merged[1:])][:notes]
    return ",".join(map(str, intervals)) or f"single:{merged[0] if merged else piece.name}"


def _rank(signature: str) -> str:
    return hashlib.sha1(signature.encode()).hexdigest()


def split_by_melody(pieces: list[Piece], *, valid_fraction: float, test_fraction: float) -> dict[str, list[int]]:
    """Indices of ``pieces`` per split ("train", "valid", "test"), whole melody groups at a time
    (see ``split_groups``)."""
    signatures = [melody_signature(piece) for piece in pieces]
    return split_groups(signatures, valid_fraction=valid_fraction, test_fraction=test_fraction)


def split_groups(keys: list[str], *, valid_fraction: float, test_fraction: float) -> dict[str, list[int]]:
    """Indices per split ("train", "valid", "test") of items grouped by ``keys``: items with the
    same key (one melody, or one recording's content hash) always land in the same split.

    Groups are taken in hash order into valid, then test, until each holds its share of the
    items (at least one group when its share is above zero); the last group always trains.
    """
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    order = sorted(groups, key=_rank)
    shares = {"valid": valid_fraction * len(keys), "test": test_fraction * len(keys)}
    splits: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    for position, key in enumerate(order):
        last = position == len(order) - 1
        name = next((n for n in ("valid", "test") if not last and len(splits[n]) < shares[n]), "train")
        splits[name].extend(groups[key])
    return {name: sorted(indices) for name, indices in splits.items()}
