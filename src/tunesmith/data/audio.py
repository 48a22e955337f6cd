"""Prepare an audio dataset: recordings -> spectral frames, split by recording, cached.

Sources: a folder of recordings (WAV, FLAC, OGG, MP3; searched recursively), one recording, a
Free Music Archive folder (``fma_*/NNN/NNNNNN.mp3`` plus ``fma_metadata/tracks.csv``, filtered by
``data.fma_subset`` and ``data.fma_genres``), or ``bach-chorales-audio``: the music21 chorales
rendered with the project's SoundFont synthesis, split by melody exactly as the note corpus is.

Each recording is analyzed once, in ``data.workers`` processes, into raw frames that are kept
per recording in the cache as they are made, so an interrupted preparation resumes where it
stopped. Recordings are split by a hash of their decoded content (two copies of one recording
land in one split). The representation is then fitted on the training split, and each split's
normalized frames are written to one ``.npy`` file that training memory-maps. ``index.json`` is
written last: a cache without it is unfinished and is completed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DataConfig
from ..errors import DataError
from ..representation import Representation, build_representation
from ..utils import atomic_write, atomic_write_text, usable_cache_dir
from .dataset import AUDIO_CORPORA, SPLITS, PreparedData, cache_key
from .splits import split_by_melody, split_groups

log = logging.getLogger(__name__)

INDEX = "index.json"


def prepare_audio(data: DataConfig, rep: Representation, *, progress: bool = True) -> PreparedData:
    """Audio counterpart of ``prepare_data``: frames per split from ``data.source``.

    A ``rep`` that is already fitted (a trained run's) keeps its statistics: the frames are
    normalized with them, not with the new data's."""
    root = usable_cache_dir() if data.cache else None
    key = cache_key(data, rep, sr=data.sr, seq_len=data.seq_len, fma=[data.fma_subset, sorted(data.fma_genres)])
    folder = root / "prepared" / key if root else None
    if folder is not None and (folder / INDEX).is_file():
        try:
            return _load(folder, rep)
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            log.warning("ignoring unreadable cache %s (%s)", folder, exc)
    with tempfile.TemporaryDirectory(prefix="tunesmith-audio-") as scratch:
        work = folder / "clips" if folder is not None else Path(scratch) / "clips"
        files, assigned, skipped = _sources(data, root or Path(scratch), progress=progress)
        analyzed = _analyze_all(files, data, rep, work, skipped, progress=progress)
        if not analyzed:
            details = "".join(f"\n  {file}: {reason}" for file, reason in skipped[:20])
            raise DataError(data.source, f"no usable recordings ({len(skipped)} skipped){details}")
        groups = _split(analyzed, assigned, data)
        fitted = dict(rep.state)
        if not fitted:
            raw_train = [np.load(analyzed[i]["raw"], mmap_mode="r") for i in groups["train"]]
            if not raw_train:
                raise DataError(data.source, "the training split is empty: too few recordings")
            rep.fit(raw_train, sr=data.sr)
        target = folder if folder is not None else Path(scratch) / "prepared"
        _write_splits(target, analyzed, groups, rep, skipped)
        if folder is not None:
            return _load(folder, rep)
        return _load(target, rep, in_memory=True)


# -- sources --------------------------------------------------------------------------------------
def _sources(data: DataConfig, root: Path, *, progress: bool) -> tuple[list[Path], list[str] | None, list]:
    """The recordings to read, their splits when fixed in advance, and inputs skipped so far."""
    from ..audio.fma import fma_audio_files, is_fma_root
    from ..audio.io import AUDIO_SUFFIXES, find_audio_files

    source, path = data.source, Path(data.source).expanduser()
    if source in AUDIO_CORPORA:
        return _render_chorales(data, root, progress=progress)
    if path.is_dir() and is_fma_root(path):
        files = fma_audio_files(path, subset=data.fma_subset or None, genres=data.fma_genres or None)
        if not files:
            raise DataError(path, "no Free Music Archive tracks match data.fma_subset / data.fma_genres")
    elif path.is_dir():
        files = find_audio_files(path)
        if not files:
            raise DataError(path, f"no audio files found (looked for {', '.join(AUDIO_SUFFIXES)}, recursively)")
    elif path.is_file():
        files = [path]
    else:
        raise DataError(
            source, f"not found: expected {', '.join(AUDIO_CORPORA)}, a folder of recordings or one recording"
        )
    if data.max_pieces:
        files = files[: data.max_pieces]
    return files, None, []


def _render_chorales(data: DataConfig, root: Path, *, progress: bool) -> tuple[list[Path], list[str], list]:
    """Render the music21 chorales (the note corpus, the same split) once into the cache."""
    from ..io import map_in_order, read_corpus

    pieces = read_corpus("bach-chorales", workers=data.workers, progress=progress, limit=data.max_pieces or None)
    indices = split_by_melody(pieces, valid_fraction=data.valid_fraction, test_fraction=data.test_fraction)
    split_of = {i: s for s in SPLITS for i in indices[s]}
    folder = root / "audio-corpus" / f"bach-chorales-{data.sr}"
    jobs = [(piece, str(folder / f"{piece.name}.wav"), data.sr) for piece in pieces]
    map_in_order(_render_one, jobs, workers=data.workers, progress=progress, desc="rendering chorales")
    return [Path(wav) for _, wav, _ in jobs], [split_of[i] for i in range(len(pieces))], []


def _render_one(job: tuple[Any, str, int]) -> str:
    """Render one chorale to ``wav`` at ``sr`` Hz unless it is there already."""
    from ..io import write_midi
    from ..synthesis import render

    piece, wav, sr = job
    if not Path(wav).is_file():
        with tempfile.TemporaryDirectory() as tmp:
            midi = write_midi(piece, Path(tmp) / f"{piece.name}.mid")
            render(midi, wav, sample_rate=sr)
    return wav


# -- analysis ---------------------------------------------------------------------------------------
def _analyze_all(
    files: list[Path], data: DataConfig, rep: Representation, work: Path, skipped: list, *, progress: bool
) -> list[dict[str, Any]]:
    """Analyze every recording (reusing the raw frames already in ``work``); keep the usable ones."""
    from ..io import map_in_order, outcome_of

    section = {"name": rep.name, **rep.spec()["params"]}
    analyze = partial(
        _analyze_file,
        section=section,
        sr=data.sr,
        max_seconds=data.max_seconds,
        min_frames=data.seq_len + 1,
        work=str(work),
    )
    outcomes = map_in_order(
        partial(outcome_of, analyze), [str(f) for f in files], workers=data.workers, progress=progress, desc="analyzing"
    )
    analyzed = []
    for position, (path, (result, reason)) in enumerate(zip(files, outcomes)):
        if result is None:
            log.info("skipping %s: %s", path, reason)
            skipped.append((str(path), reason))
        else:
            analyzed.append({**result, "file": str(path), "index": len(analyzed), "position": position})
    return analyzed


def _analyze_file(path: str, *, section: dict, sr: int, max_seconds: float, min_frames: int, work: str) -> dict:
    """Raw frames of one recording, saved as ``work/<key>.npy`` (reused when already there)."""
    from ..audio.io import is_silent, read_audio

    stat = Path(path).stat()
    recipe = json.dumps([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, section, sr], sort_keys=True)
    key = hashlib.sha1(recipe.encode()).hexdigest()[:20]
    raw, meta = Path(work) / f"{key}.npy", Path(work) / f"{key}.json"
    if raw.is_file() and meta.is_file():
        return {"raw": str(raw), **json.loads(meta.read_text())}
    clip = read_audio(path, sr=sr, max_seconds=max_seconds)
    if is_silent(clip.samples):
        raise DataError(path, "silent (no sample louder than -60 dBFS)")
    frames = build_representation(section).analyze(clip)
    if len(frames) < min_frames:
        seconds = clip.seconds
        raise DataError(path, f"lasts {seconds:.2f} s: {len(frames)} frames, shorter than one window ({min_frames})")
    info = {"name": clip.name, "frames": len(frames), "hash": hashlib.sha1(clip.samples.tobytes()).hexdigest()}
    atomic_write(raw, partial(_save_npy, array=frames))
    atomic_write_text(meta, json.dumps(info))
    return {"raw": str(raw), **info}


def _save_npy(tmp: Path, *, array: np.ndarray) -> None:
    with open(tmp, "wb") as handle:  # a handle: np.save would append ".npy" to a path
        np.save(handle, array, allow_pickle=False)


def _split(analyzed: list[dict], assigned: list[str] | None, data: DataConfig) -> dict[str, list[int]]:
    if assigned is not None:
        return {s: [a["index"] for a in analyzed if assigned[a["position"]] == s] for s in SPLITS}
    keys = [a["hash"] for a in analyzed]
    return split_groups(keys, valid_fraction=data.valid_fraction, test_fraction=data.test_fraction)


# -- the prepared splits ---------------------------------------------------------------------------
def _write_splits(
    folder: Path, analyzed: list[dict], groups: dict[str, list[int]], rep: Representation, skipped: list
) -> None:
    """One normalized float32 ``.npy`` per split (written in pieces, renamed when complete),
    then ``index.json`` with the lengths, names, statistics and skipped inputs."""
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"state": rep.state, "skipped": skipped, "splits": {}}
    for split in SPLITS:
        members = [analyzed[i] for i in groups[split]]
        total = sum(m["frames"] for m in members)

        def write(tmp: Path, members: list[dict] = members, total: int = total) -> None:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, rep.n_features))
            at = 0
            for member in members:
                raw = np.load(member["raw"], mmap_mode="r")
                out[at : at + len(raw)] = rep.normalize(np.asarray(raw, dtype=np.float32))
                at += len(raw)
            out.flush()
            del out

        atomic_write(folder / f"{split}.npy", write)
        index["splits"][split] = {"names": [m["name"] for m in members], "lengths": [m["frames"] for m in members]}
    atomic_write_text(folder / INDEX, json.dumps(index))


def _load(folder: Path, rep: Representation, *, in_memory: bool = False) -> PreparedData:
    """Memory-map the prepared splits; renormalize when ``rep`` carries other statistics."""
    index = json.loads((folder / INDEX).read_text())
    cached = index["state"]
    if not rep.state:
        rep.state = dict(cached)
    affine = None
    if rep.state.get("mean") != cached.get("mean") or rep.state.get("std") != cached.get("std"):
        mean_c, std_c = np.asarray(cached["mean"], np.float32), np.asarray(cached["std"], np.float32)
        mean_r, std_r = np.asarray(rep.state["mean"], np.float32), np.asarray(rep.state["std"], np.float32)
        affine = (std_c / std_r, (mean_c - mean_r) / std_r)
    splits, names = {}, {}
    for split in SPLITS:
        info = index["splits"][split]
        frames = np.load(folder / f"{split}.npy", mmap_mode=None if in_memory else "r")
        bounds = np.cumsum([0, *info["lengths"]])
        sequences = [frames[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        if affine is not None:
            sequences = [(np.asarray(s) * affine[0] + affine[1]).astype(np.float32) for s in sequences]
        splits[split], names[split] = sequences, list(info["names"])
    return PreparedData(rep, splits, names, 120.0, [tuple(x) for x in index["skipped"]])
