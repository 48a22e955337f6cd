"""Similarity search: embed a collection with a trained run, store the index, list the nearest pieces.

A trained run turns each piece or recording into one vector (``SequenceModel.embed``): a
next-frame model pools its hidden features over the whole piece (recurrent and convolutional
models read any length); a latent model (an autoencoder) averages its encoder's mean over
consecutive windows of the training length. Files are read as the run's representation reads
them: note runs read MIDI, MusicXML and ABC (transposed to C first when the run normalized keys),
audio runs read WAV, FLAC, OGG and MP3 at the run's sample rate.

Two vectors are compared by cosine similarity. With ``scoring="centered"`` (the default) the
index's mean vector is subtracted from every vector first: what all pieces of a collection share
(its style, its instrument) then no longer dominates the score.

The index file (``.npz``, read with ``allow_pickle=False``) holds two arrays:

- ``embeddings``: float32 ``shape=(N, E)``, the pooled vectors as the model gave them;
- ``meta``: one JSON string: ``format`` ("tunesmith-similarity-index"), ``version`` (1),
  ``run`` (``path``, ``checkpoint``, ``model``, ``weights``: a SHA-1 of the model's weights),
  ``representation`` (the run's representation spec: name, options, statistics), ``pooling``,
  ``items`` (one ``{"path", "name", "frames"}`` per row) and ``skipped`` (``[path, reason]``
  for each file that could not be read).
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, DataError
from .models.base import POOLINGS
from .representation import Representation, representation_from_spec, transpose_piece
from .run import Run
from .utils import atomic_write

log = logging.getLogger(__name__)

FORMAT = "tunesmith-similarity-index"
VERSION = 1
SCORINGS = ("cosine", "centered")
BATCH_FRAMES = 32_768
"""Padded frames embedded in one forward pass: bounds memory however large the folder is."""

__all__ = [
    "BATCH_FRAMES",
    "FORMAT",
    "Hit",
    "Index",
    "build_index",
    "embed_sequences",
    "find_files",
    "load_index",
    "read_frames",
    "save_index",
    "search",
    "similar",
]


@dataclass
class Index:
    """Embedded pieces: ``embeddings`` float32 ``shape=(N, E)`` (one row per item, as pooled),
    ``items`` ``[{"path", "name", "frames"}]``, the ``run`` that embedded them (``path``,
    ``checkpoint``, ``model``, ``weights``), its ``representation`` spec, the ``pooling`` used,
    and the files ``skipped`` with the reason."""

    embeddings: np.ndarray
    items: list[dict[str, Any]]
    run: dict[str, Any]
    representation: dict[str, Any]
    pooling: str = "trajectory"
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def unit(self, vectors: np.ndarray, *, scoring: str = "centered") -> np.ndarray:
        """``vectors`` ``shape=(N, E)`` -> unit rows in this index's scoring space (centered on
        the index's mean vector for ``centered``)."""
        if scoring not in SCORINGS:
            raise ConfigError(f"unknown scoring {scoring!r}; choose one of {', '.join(SCORINGS)}")
        vectors = np.asarray(vectors, np.float64)
        if scoring == "centered" and len(self.embeddings) > 1:
            vectors = vectors - self.embeddings.astype(np.float64).mean(0)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass
class Hit:
    """One result of a query: ``rank`` (1 = nearest), cosine ``score`` in [-1, 1], the item's
    ``path`` and ``name``."""

    rank: int
    score: float
    path: str
    name: str


# -- reading files ----------------------------------------------------------------------------------
def find_files(folder: str | Path, rep: Representation) -> list[Path]:
    """The files under ``folder`` (recursively, sorted) that ``rep`` reads: music files for a
    note representation, recordings for an audio one.

    Raises:
        DataError: ``folder`` is missing or not a folder, or holds no such file.
    """
    if rep.domain == "notes":
        from .io import SUFFIXES, find_music_files

        files, suffixes = find_music_files(folder), SUFFIXES
    else:
        from .audio.io import AUDIO_SUFFIXES, find_audio_files

        files, suffixes = find_audio_files(folder), AUDIO_SUFFIXES
    if not files:
        raise DataError(folder, f"no files to index (looked for {', '.join(suffixes)}, recursively)")
    return files


def read_frames(path: str | Path, rep: Representation, *, max_seconds: float = 1800.0, shift: int = 0) -> np.ndarray:
    """Model frames ``shape=(T, D)`` of one file, read as ``rep`` reads its training data: a
    piece (transposed by ``shift`` semitones, then to C when ``rep`` normalizes keys) or a
    recording at ``rep.sr``.

    Raises:
        DataError: a file of another kind, unreadable, longer than ``max_seconds``, silent, or
            with no notes in the representation's range.
        ConfigError: a ``shift`` for a recording.
    """
    path = Path(path)
    if path.suffix.lower() not in rep.input_suffixes():
        kind = "music files" if rep.domain == "notes" else "recordings"
        raise DataError(path, f"this run reads {kind} ({', '.join(rep.input_suffixes())}), not {path.suffix or 'this'}")
    if rep.domain == "notes":
        from .io import read_piece

        piece = read_piece(path, max_seconds=max_seconds)
        frames = rep.encode(transpose_piece(piece, shift) if shift else piece)  # to C if the run normalizes keys
        if not frames.any():
            raise DataError(path, "no notes in the representation's key range")
    else:
        from .audio.io import is_silent, read_audio

        if shift:
            raise ConfigError("transposition applies to note runs only; this run reads recordings")
        clip = read_audio(path, sr=rep.sr, max_seconds=max_seconds)
        if is_silent(clip.samples):
            raise DataError(path, "silent (no sample louder than -60 dBFS)")
        frames = rep.encode(clip)
    if len(frames) == 0:
        raise DataError(path, "too short: no frames")
    return np.asarray(frames, np.float32)


def _read_one(path: str, *, spec: dict[str, Any], max_seconds: float) -> np.ndarray:
    """``read_frames`` for a worker process (the representation travels as its spec)."""
    return read_frames(path, representation_from_spec(spec), max_seconds=max_seconds)


# -- embedding ----------------------------------------------------------------------------------------
@torch.inference_mode()
def embed_sequences(
    run: Run, sequences: list[np.ndarray], *, pooling: str = "trajectory", batch_frames: int = BATCH_FRAMES
) -> np.ndarray:
    """One vector per sequence of model frames (each ``shape=(T_i, D)``): ``shape=(N, E)`` float32.

    A next-frame model reads each whole sequence after the representation's silent frame (as in
    training) and pools its features over the sequence's frames (``pooling``, see
    ``SequenceModel.embed``). A latent model encodes consecutive windows of its
    ``window_size()`` frames (else the run's ``data.seq_len``) and averages their vectors.
    Sequences are padded into batches of at most ``batch_frames`` frames (a longer sequence goes
    alone)."""
    if pooling not in POOLINGS:
        raise ConfigError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    model = run.model.eval()
    if not sequences:
        return np.zeros((0, 0), np.float32)
    if model.latent:
        return _embed_windows(run, sequences, batch_frames=batch_frames)
    start = run.representation.silence()
    rows = [np.concatenate([start[None], np.asarray(s, np.float32)]) for s in sequences]
    return _embed_rows(model, rows, [1] * len(rows), batch_frames=batch_frames, pooling=pooling)


def _embed_windows(run: Run, sequences: list[np.ndarray], *, batch_frames: int) -> np.ndarray:
    """A latent model's vectors: the mean of its encoder's vector over each sequence's windows."""
    window = getattr(run.model, "window_size", None)  # the frames its encoder reads at once
    length = int(window()) if callable(window) else int(run.config.get("data", {}).get("seq_len", 64))
    rows, owner = [], []
    for index, sequence in enumerate(sequences):
        for at in range(0, max(len(sequence), 1), length):
            rows.append(np.asarray(sequence[at : at + length], np.float32))
            owner.append(index)
    vectors = _embed_rows(run.model, rows, [0] * len(rows), batch_frames=batch_frames, pad_to=length)
    out = np.zeros((len(sequences), vectors.shape[1]), np.float32)
    np.add.at(out, np.asarray(owner), vectors)
    return out / np.bincount(owner, minlength=len(sequences))[:, None].astype(np.float32)


def _embed_rows(
    model: Any,
    rows: list[np.ndarray],
    skip: list[int],
    *,
    batch_frames: int,
    pooling: str | None = None,
    pad_to: int = 0,
) -> np.ndarray:
    """``model.embed`` of each row (``skip[i]`` leading frames masked out), in padded batches of
    similar lengths; rows back in their order, ``shape=(N, E)``."""
    device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out: list[np.ndarray | None] = [None] * len(rows)
    at = 0
    while at < len(order):
        chunk = [order[at]]
        while at + len(chunk) < len(order):
            longest = max(pad_to, len(rows[order[at + len(chunk)]]))
            if longest * (len(chunk) + 1) > batch_frames:
                break
            chunk.append(order[at + len(chunk)])
        at += len(chunk)
        width = max(pad_to, max(len(rows[i]) for i in chunk))
        frames = np.zeros((len(chunk), width, rows[chunk[0]].shape[1]), np.float32)
        mask = np.zeros((len(chunk), width), np.float32)
        for j, i in enumerate(chunk):
            frames[j, : len(rows[i])] = rows[i]
            mask[j, skip[i] : len(rows[i])] = 1.0
        args = (torch.from_numpy(frames).to(device), torch.from_numpy(mask).to(device))
        vectors = model.embed(*args) if pooling is None else model.embed(*args, pooling=pooling)
        for j, i in enumerate(chunk):
            out[i] = vectors[j].float().cpu().numpy()
    return np.stack(out).astype(np.float32)


def weights_fingerprint(model: torch.nn.Module) -> str:
    """SHA-1 of a model's weights (names, shapes and values): which weights made an index."""
    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# -- building and storing the index -------------------------------------------------------------------
def build_index(
    folder: str | Path,
    run: Run,
    *,
    pooling: str = "trajectory",
    workers: int = 1,
    batch_frames: int = BATCH_FRAMES,
    checkpoint: str = "best",
    progress: bool = False,
) -> Index:
    """Embed every file under ``folder`` (recursively) that ``run``'s representation reads.

    Files are read in ``workers`` processes and embedded in batches of ``batch_frames`` frames
    as they come, so only the vectors are kept. A file that cannot be read (corrupt, too long,
    silent, no notes) is logged, listed in ``Index.skipped`` and passed over.

    Raises:
        DataError: ``folder`` is missing, holds no file of the run's kind, or none is usable.
        ConfigError: an unknown ``pooling``, ``workers`` below 1, or a model without an
            embedding (a GAN).
    """
    from tqdm.auto import tqdm

    from .io import imap_in_order, outcome_of

    if pooling not in POOLINGS:
        raise ConfigError(f"unknown --pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    rep = run.representation
    paths = [str(p) for p in find_files(folder, rep)]
    embed_sequences(run, [rep.silence()[None]], pooling=pooling)  # a family without an embedding fails now
    max_seconds = float(run.config.get("data", {}).get("max_seconds", 1800.0))
    reader = partial(outcome_of, partial(_read_one, spec=rep.spec(), max_seconds=max_seconds))
    items: list[dict[str, Any]] = []
    vectors: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    pending: list[tuple[str, np.ndarray]] = []

    def flush() -> None:
        if pending:
            vectors.append(embed_sequences(run, [f for _, f in pending], pooling=pooling, batch_frames=batch_frames))
            items.extend({"path": p, "name": Path(p).stem, "frames": len(f)} for p, f in pending)
            pending.clear()

    bar = tqdm(total=len(paths), desc="indexing", unit="file", disable=not progress)
    with closing(imap_in_order(reader, paths, workers=workers)) as outcomes, bar:
        for path, (frames, reason) in zip(paths, outcomes):
            bar.update()
            if frames is None:
                log.debug("skipping %s: %s", path, reason)  # the caller reports Index.skipped
                skipped.append((path, reason))
                continue
            pending.append((path, frames))
            if sum(len(f) for _, f in pending) >= batch_frames:
                flush()
    flush()
    if not items:
        details = "".join(f"\n  {p}: {r}" for p, r in skipped[:20])
        raise DataError(folder, f"no usable files ({len(skipped)} skipped){details}")
    identity = {
        "path": str(Path(run.path).resolve()),
        "checkpoint": checkpoint,
        "model": run.model.name,
        "weights": weights_fingerprint(run.model),
    }
    return Index(np.concatenate(vectors), items, identity, _plain(rep.spec()), pooling, skipped)


def _plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples become lists), so stored and live specs compare equal."""
    return json.loads(json.dumps(value))


def save_index(index: Index, path: str | Path) -> Path:
    """Write ``index`` to ``path`` (a ``.npz`` file) atomically; return the path.

    Raises:
        ConfigError: ``path`` does not end in ``.npz``.
        OutputError: the file cannot be written.
    """
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise ConfigError(f"--out must be a .npz file, got {path}")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "run": index.run,
        "representation": index.representation,
        "pooling": index.pooling,
        "items": index.items,
        "skipped": [list(s) for s in index.skipped],
    }
    embeddings = np.asarray(index.embeddings, np.float32)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.savez would append ".npz" to a path
            np.savez(handle, embeddings=embeddings, meta=np.array(json.dumps(meta)))

    return atomic_write(path, write)


def load_index(path: str | Path) -> Index:
    """Read an index written by :func:`save_index` (no pickle involved).

    Raises:
        DataError: the file is missing, or not a tunesmith similarity index of this version.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "index not found; build one with `tunesmith index DIR --run RUN --out INDEX.npz`")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            embeddings = np.asarray(arrays["embeddings"], np.float32)
            meta = json.loads(str(arrays["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        if meta.get("version") != VERSION:
            raise ValueError(f"version {meta.get('version')!r}, this tunesmith reads version {VERSION}")
        items = list(meta["items"])
        if embeddings.ndim != 2 or len(embeddings) != len(items) or not np.isfinite(embeddings).all():
            raise ValueError(f"embeddings of shape {embeddings.shape} for {len(items)} items")
        index = Index(
            embeddings,
            items,
            dict(meta["run"]),
            dict(meta["representation"]),
            str(meta["pooling"]),
            [tuple(s) for s in meta.get("skipped", [])],
        )
    except DataError:
        raise
    except Exception as exc:  # a zip that is not ours, a truncated file, a missing key
        # NumPy's own advice for a file holding pickled objects (load it with allow_pickle) is the
        # unsafe thing to do with a file of unknown origin, so that message is not passed on.
        why = "it holds pickled objects" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise DataError(path, f"not a tunesmith similarity index ({why})") from None
    return index


# -- querying ---------------------------------------------------------------------------------------------
def search(
    index: Index, vectors: np.ndarray, *, k: int = 5, scoring: str = "centered", group: int = 1
) -> list[list[Hit]]:
    """The ``k`` nearest items of ``index`` to each query, nearest first, by cosine similarity
    in the ``scoring`` space (see :meth:`Index.unit`). ``vectors`` ``shape=(Q * group, E)``
    (raw, as ``embed_sequences`` gives them) holds ``group`` consecutive rows per query (say,
    one per transposition of it): an item scores the best of its similarities to them.

    Raises:
        ConfigError: ``k`` below 1, an unknown ``scoring``, or vectors of another width.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"--k must be a whole number of at least 1, got {k!r}")
    vectors = np.atleast_2d(np.asarray(vectors, np.float32))
    if vectors.shape[1] != index.embeddings.shape[1]:
        raise ConfigError(
            f"query vectors have {vectors.shape[1]} dimensions, the index's {index.embeddings.shape[1]}: "
            "embed them with the run and pooling the index was built with"
        )
    if group < 1 or len(vectors) % group:
        raise ConfigError(f"{len(vectors)} query vectors do not make groups of {group}")
    scores = index.unit(vectors, scoring=scoring) @ index.unit(index.embeddings, scoring=scoring).T
    scores = scores.reshape(len(vectors) // group, group, -1).max(1)
    k = min(k, len(index))
    results = []
    for row in scores:
        top = np.argsort(-row, kind="stable")[:k]
        results.append(
            [
                Hit(rank + 1, float(row[i]), str(index.items[i]["path"]), str(index.items[i]["name"]))
                for rank, i in enumerate(top)
            ]
        )
    return results


def check_run(index: Index, run: Run, *, where: str = "the index") -> None:
    """Refuse a ``run`` whose representation or weights differ from those ``index`` was built with.

    Raises:
        ConfigError: one line naming both and the fix.
    """
    stored, live = index.representation, _plain(run.representation.spec())
    if stored != live:
        raise ConfigError(
            f"{where} was built with representation {_describe(stored)}, but run {run.path} reads "
            f"{_describe(live)}; query with the run the index was built with, or rebuild the index with this run"
        )
    if index.run.get("weights") not in (None, weights_fingerprint(run.model)):
        raise ConfigError(
            f"{where} was built with other weights than run {run.path} has now (retrained, or another "
            "checkpoint); rebuild the index with `tunesmith index DIR --run RUN --out INDEX.npz`"
        )


def _describe(spec: dict[str, Any]) -> str:
    params = spec.get("params", {})
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("n_iter", "momentum", "gain_db"))
    return f"{spec.get('name')} ({shown}{', fitted statistics' if spec.get('state') else ''})"


def similar(
    query: str | Path,
    index: Index,
    run: Run,
    *,
    k: int = 5,
    scoring: str = "centered",
    index_path: str | Path | None = None,
    transpositions: int = 0,
) -> list[Hit]:
    """The ``k`` items of ``index`` nearest to the file ``query``, embedded with ``run`` (the
    run the index was built with). The query's own file, when indexed, is its own nearest item.

    ``transpositions`` (note runs): also read the query moved up and down by 1 to that many
    semitones; an item scores the best of its similarities to them, so a piece is found in
    whatever key it is indexed (6 covers every key).

    Raises:
        ConfigError: ``k`` below 1, or a run that does not match the index (:func:`check_run`).
        DataError: ``query`` is missing, unreadable, or of a kind the index does not hold.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"--k must be a whole number of at least 1, got {k!r}")
    if not 0 <= transpositions <= 11:
        raise ConfigError(f"--transpositions must be from 0 to 11 semitones, got {transpositions}")
    where = f"index {index_path}" if index_path is not None else "the index"
    check_run(index, run, where=where)
    rep = run.representation
    query = Path(query)
    if not query.exists():
        raise DataError(query, "query file not found")
    if query.suffix.lower() not in rep.input_suffixes():
        kind = "music" if rep.domain == "notes" else "recordings"
        raise DataError(
            query, f"{where} holds {kind} ({rep.name}); the query must be one of {', '.join(rep.input_suffixes())}"
        )
    max_seconds = float(run.config.get("data", {}).get("max_seconds", 1800.0))
    if transpositions and rep.domain != "notes":
        raise ConfigError("--transpositions applies to note runs only; this index holds recordings")
    shifts = range(-transpositions, transpositions + 1)
    frames = [read_frames(query, rep, max_seconds=max_seconds, shift=shift) for shift in shifts]
    vectors = embed_sequences(run, frames, pooling=index.pooling)
    return search(index, vectors, k=k, scoring=scoring, group=len(frames))[0]
