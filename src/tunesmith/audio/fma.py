"""The Free Music Archive (FMA) layout: ``fma_<subset>/NNN/NNNNNN.mp3`` plus ``fma_metadata/tracks.csv``.

``tracks.csv`` has a three-row header: top-level names (``album``, ``artist``, ``set``,
``track``), sub-names (``title``, ``genre_top``, ``subset``, ``split``, ...), and a row that
only names the index column, ``track_id``. The subsets are nested: ``small`` is part of
``medium``, which is part of ``large``, which is part of ``full``; a track's ``subset`` column
names the smallest one it belongs to.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from tunesmith.audio.io import AUDIO_SUFFIXES
from tunesmith.errors import ConfigError, DataError

__all__ = ["SUBSETS", "fma_audio_files", "is_fma_root", "read_fma_tracks"]

logger = logging.getLogger("tunesmith.audio")

SUBSETS = ("small", "medium", "large", "full")
"""FMA subsets, each contained in the next."""

_PLAIN_GROUPS = ("track", "set")
"""Columns under these top-level names keep their sub-name (``genre_top``, ``split``); others
become ``<group>_<name>`` (``album_title``, ``artist_name``)."""


def read_fma_tracks(tracks_csv: str | Path) -> list[dict]:
    """The rows of an FMA ``tracks.csv``, one dict per track, in file order.

    Keys: ``track_id`` (int), then every column the file has, named by its sub-name for the
    ``track`` and ``set`` groups (``title``, ``genre_top``, ``subset``, ``split``, ...) and
    ``<group>_<name>`` otherwise (``artist_name``, ``album_title``); ``artist`` repeats
    ``artist_name`` when present. Values are the strings of the file.

    Raises:
        DataError: missing file, a header that is not FMA's three rows, a bad track id.
    """
    path = Path(tracks_csv)
    if not path.is_file():
        raise DataError(path, "FMA tracks.csv not found; it comes in fma_metadata.zip")
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = [next(rows, None) for _ in range(3)]
        if any(h is None for h in header) or not header[2] or header[2][0] != "track_id":
            raise DataError(path, "not an FMA tracks.csv: expected 3 header rows, the third starting with 'track_id'")
        keys = _column_keys(header[0], header[1])
        tracks = []
        for line, row in enumerate(rows, start=4):
            if not row or not row[0].strip():
                continue
            tracks.append(_track(row, keys, path, line))
    return tracks


def fma_audio_files(root: str | Path, *, subset: str | None = None, genres: list[str] | None = None) -> list[Path]:
    """The audio files of an FMA download at ``root``, filtered by subset and top genre, by track id.

    ``subset`` keeps the tracks of that subset (``"medium"`` includes ``"small"``'s);
    ``genres`` keeps the tracks whose ``genre_top`` is one of them (case-insensitive). Files are
    looked up in every ``fma_<subset>`` folder under ``root``; tracks listed in the metadata
    but not downloaded are left out. Without ``subset`` and ``genres`` the metadata is not
    needed and every audio file under the ``fma_*`` folders is returned.

    Raises:
        ConfigError: an unknown subset or a genre no track has.
        DataError: ``root`` is not an FMA folder, or the metadata is needed but missing.
    """
    root = Path(root)
    if not is_fma_root(root):
        raise DataError(root, "not an FMA folder: expected fma_metadata/tracks.csv or fma_small/, fma_medium/, ...")
    if subset is not None and subset not in SUBSETS:
        raise ConfigError(f"unknown FMA subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    files = _audio_by_track_id(root, prefer=subset)
    if subset is None and not genres:
        return [files[k] for k in sorted(files)]
    tracks = read_fma_tracks(root / "fma_metadata" / "tracks.csv")
    if genres:
        _check_genres(tracks, genres)
    wanted = {g.lower() for g in genres or ()}
    keep = [t for t in tracks if _in_subset(t, subset) and (not wanted or t.get("genre_top", "").lower() in wanted)]
    found = [files[i] for i in sorted({t["track_id"] for t in keep} & files.keys())]
    if len(found) < len(keep):
        logger.info("%d of %d selected FMA tracks have no audio file under %s", len(keep) - len(found), len(keep), root)
    return found


def is_fma_root(path: str | Path) -> bool:
    """True when ``path`` is a folder holding ``fma_metadata/tracks.csv`` or an ``fma_<subset>`` folder."""
    path = Path(path)
    if not path.is_dir():
        return False
    return (path / "fma_metadata" / "tracks.csv").is_file() or any((path / f"fma_{s}").is_dir() for s in SUBSETS)


def _column_keys(top: list[str], sub: list[str]) -> list[str]:
    """One unique key per column after the index: sub-name, or ``group_name`` outside track/set."""
    keys = []
    for group, name in zip(top[1:], sub[1:]):
        key = name if group in _PLAIN_GROUPS else f"{group}_{name}"
        keys.append(key if key not in keys else f"{group}_{name}")
    return keys


def _track(row: list[str], keys: list[str], path: Path, line: int) -> dict:
    try:
        track = {"track_id": int(row[0])}
    except ValueError:
        raise DataError(path, f"line {line}: track_id {row[0]!r} is not a whole number") from None
    track.update(zip(keys, row[1:]))
    if "artist_name" in track:
        track.setdefault("artist", track["artist_name"])
    return track


def _audio_by_track_id(root: Path, *, prefer: str | None) -> dict[int, Path]:
    """``{track_id: path}`` over the ``fma_<subset>`` folders, the preferred subset's folder first."""
    order = sorted(SUBSETS, key=lambda s: s != prefer)
    files: dict[int, Path] = {}
    for name in order:
        folder = root / f"fma_{name}"
        if not folder.is_dir():
            continue
        for p in folder.rglob("*"):
            if p.suffix.lower() in AUDIO_SUFFIXES and p.stem.isdigit() and p.is_file():
                files.setdefault(int(p.stem), p)
    return files


def _in_subset(track: dict, subset: str | None) -> bool:
    if subset is None:
        return True
    own = track.get("subset", "")
    return own in SUBSETS and SUBSETS.index(own) <= SUBSETS.index(subset)


def _check_genres(tracks: list[dict], genres: list[str]) -> None:
    """Raise ConfigError naming the known genres when one of ``genres`` no track has."""
    known = sorted({t.get("genre_top", "") for t in tracks} - {""})
    unknown = [g for g in genres if g.lower() not in {k.lower() for k in known}]
    if unknown:
        raise ConfigError(f"no FMA track has genre_top {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
