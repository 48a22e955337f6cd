"""Piano-roll benchmark files (JSB Chorales, Nottingham, ...) as lists of (T, 88) arrays.

Two layouts are read. ``.mat`` (the TCN benchmark code): variables ``traindata``,
``validdata``, ``testdata``, each a cell array of (T, 88) arrays. ``.pickle``/``.pkl`` (the
original Boulanger-Lewandowski files, written by Python 2): a dict of ``train``/``valid``/
``test`` lists of sequences, each a list of frames, each a list of sounding MIDI pitches.
Pickles are loaded without resolving a single global, so they cannot run code.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tunesmith.errors import DataError
from tunesmith.utils import die_with_parent, one_line

SPLITS = ("train", "valid", "test")
N_KEYS = 88
LOWEST_PITCH = 21
"""MIDI pitch of column 0 (A0); column 87 is C8 (108)."""
BENCHMARK_SUFFIXES = (".mat", ".pickle", ".pkl")


def read_benchmark(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Read a piano-roll benchmark into ``{"train": [...], "valid": [...], "test": [...]}``.

    Each sequence is a float32 array of shape=(T, 88), 1.0 where MIDI pitch
    ``21 + column`` sounds at step ``t`` and 0.0 elsewhere.

    Raises:
        DataError: unknown suffix, missing, empty, too large or corrupt file, missing splits,
            empty splits, sequences not of shape (T, 88), or pitches outside 21..108.
    """
    from tunesmith.io import check_file  # the package module holds the shared helpers

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in BENCHMARK_SUFFIXES:
        raise DataError(
            path,
            f"unsupported benchmark file type {suffix or '(no suffix)'!r}; "
            f"expected one of {', '.join(BENCHMARK_SUFFIXES)}",
        )
    check_file(path)
    if suffix == ".mat":
        return _read_mat(path)
    return _read_pickle(path)


def _read_mat(path: Path) -> dict[str, list[np.ndarray]]:
    """The ``.mat`` layout: ``<split>data`` cell arrays of (T, 88) arrays.

    scipy's reader runs in a child process: some corrupt files crash its C code (a
    segmentation fault), which would otherwise end the whole program.
    """
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(1, initializer=die_with_parent, initargs=(os.getpid(),)) as child:
            data = child.submit(_load_mat, str(path)).result()
    except BrokenProcessPool:
        raise DataError(path, "not a readable .mat file: scipy crashed reading it (a corrupt file)") from None
    except Exception as exc:  # scipy raises ValueError, TypeError, NotImplementedError, ...
        raise DataError(path, f"not a readable .mat file: {type(exc).__name__}: {one_line(str(exc))}") from exc
    return {split: _mat_split(path, data, split) for split in SPLITS}


def _load_mat(path: str) -> dict[str, Any]:
    """``scipy.io.loadmat(path)`` without its ``__header__`` entries (run in a child process,
    whose crash the parent reports in one line: no fault dump of its own)."""
    import faulthandler

    from scipy.io import loadmat

    faulthandler.disable()

    return {name: value for name, value in loadmat(path).items() if not name.startswith("__")}


def _mat_split(path: Path, data: dict[str, Any], split: str) -> list[np.ndarray]:
    key = f"{split}data"
    if key not in data:
        raise DataError(path, f"missing variable {key!r} (found: {_names(data)})")
    cells = data[key]
    if not isinstance(cells, np.ndarray) or cells.dtype != object:
        raise DataError(path, f"{key!r} is not a cell array of (T, {N_KEYS}) sequences")
    sequences = [_check_roll(path, split, i, np.asarray(cell)) for i, cell in enumerate(cells.ravel())]
    return _non_empty(path, split, sequences)


def _names(data: dict[str, Any]) -> str:
    """The variables of a loaded .mat file, without scipy's ``__header__`` entries."""
    return ", ".join(sorted(k for k in data if not k.startswith("__"))) or "nothing"


def _check_roll(path: Path, split: str, index: int, roll: np.ndarray) -> np.ndarray:
    """Validate one (T, 88) piano roll of 0s and 1s and return it as float32."""
    where = f"sequence {index} of {split!r}"
    if roll.ndim != 2 or roll.shape[1] != N_KEYS or roll.shape[0] == 0:
        raise DataError(path, f"{where} has shape {roll.shape}, expected (T, {N_KEYS}) with T > 0")
    if not (np.issubdtype(roll.dtype, np.number) or roll.dtype == bool):
        raise DataError(path, f"{where} has non-numeric type {roll.dtype}")
    if not np.isin(roll, (0, 1)).all():
        raise DataError(path, f"{where} holds values other than 0 and 1")
    return roll.astype(np.float32)


def _non_empty(path: Path, split: str, sequences: list[np.ndarray]) -> list[np.ndarray]:
    if not sequences:
        raise DataError(path, f"split {split!r} has no sequences")
    return sequences


class _NoGlobalsUnpickler(pickle.Unpickler):
    """Unpickles plain containers, numbers and strings; refuses every class and function."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(file, encoding="latin1")  # the originals come from Python 2
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        raise DataError(
            self.path,
            f"refusing to unpickle {module}.{name}: only lists, tuples, dicts, numbers and strings are allowed",
        )


def _read_pickle(path: Path) -> dict[str, list[np.ndarray]]:
    """The pickle layout: ``{split: [[frame pitches, ...], ...]}``."""
    try:
        with path.open("rb") as file:
            data = _NoGlobalsUnpickler(file, path).load()
    except DataError:
        raise
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, MemoryError, ...
        raise DataError(path, f"not a readable pickle: {type(exc).__name__}: {one_line(str(exc))}") from exc
    if not isinstance(data, dict):
        raise DataError(path, f"expected a dict with keys {', '.join(SPLITS)}, got {type(data).__name__}")
    return {split: _pickle_split(path, data, split) for split in SPLITS}


def _pickle_split(path: Path, data: dict[Any, Any], split: str) -> list[np.ndarray]:
    if split not in data:
        raise DataError(path, f"missing split {split!r} (found: {', '.join(map(repr, data))})")
    sequences = data[split]
    if not isinstance(sequences, (list, tuple)):
        raise DataError(path, f"split {split!r} is a {type(sequences).__name__}, not a list")
    rolls = [_roll_from_frames(path, split, i, frames) for i, frames in enumerate(sequences)]
    return _non_empty(path, split, rolls)


def _roll_from_frames(path: Path, split: str, index: int, frames: Any) -> np.ndarray:
    """Frames of sounding pitches -> a float32 piano roll of shape=(T, 88)."""
    where = f"sequence {index} of {split!r}"
    if not isinstance(frames, (list, tuple)) or not frames:
        raise DataError(path, f"{where} is not a non-empty list of frames")
    roll = np.zeros((len(frames), N_KEYS), dtype=np.float32)
    for step, frame in enumerate(frames):
        if not isinstance(frame, (list, tuple)):
            raise DataError(path, f"step {step} of {where} is a {type(frame).__name__}, not a list of pitches")
        for pitch in frame:
            roll[step, _key(path, pitch, f"step {step} of {where}")] = 1.0
    return roll


def _key(path: Path, pitch: Any, where: str) -> int:
    """Column of a MIDI pitch in 21..108 (an integral float is accepted too)."""
    valid = (
        isinstance(pitch, (int, float))
        and not isinstance(pitch, bool)
        and LOWEST_PITCH <= pitch < LOWEST_PITCH + N_KEYS
        and pitch == int(pitch)
    )
    if not valid:
        raise DataError(
            path, f"pitch {pitch!r} at {where} is not a MIDI pitch in {LOWEST_PITCH}..{LOWEST_PITCH + N_KEYS - 1}"
        )
    return int(pitch) - LOWEST_PITCH
