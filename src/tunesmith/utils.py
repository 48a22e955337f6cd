"""Small helpers shared across layers: atomic writes, output and cache folders, seeding, workers."""

from __future__ import annotations

import logging
import os
import random
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import OutputError, TunesmithError

log = logging.getLogger("tunesmith")

TMP_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    The temporary file is ``.{name}.{pid}.{random}{suffix}.tmp`` (the suffix kept, so writers
    that look at it still see ``.wav``, ``.pt``, ...). A crash or an error leaves whatever was
    at ``path`` before untouched; temporary files that crashed writers left beside ``path``
    (their process no longer runs) are removed first. Parent folders are created.

    Raises:
        OutputError: the folder cannot be created or written (one line naming ``path``);
            errors raised by ``write`` itself pass through unchanged.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(_cannot_write(path, exc)) from exc
    remove_stale_temp_files(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{path.suffix}{TMP_SUFFIX}")
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask applies
    except OSError as exc:
        raise OutputError(_cannot_write(path, exc)) from exc
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(_cannot_write(path, exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _cannot_write(path: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"cannot write {path}: {reason}; choose a writable location with enough free space"


def _fsync(path: Path) -> None:
    """Flush ``path`` to disk, so the rename never exposes a file whose bytes are not there yet."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Remove the temporary files that interrupted writes left beside ``path``; return them.

    :func:`atomic_write` names its temporary files ``.{name}.{pid}.{8 hex digits}{suffix}.tmp``.
    Such a file in ``path``'s folder is stale when process ``pid`` no longer runs, whatever
    target it was for; a temporary file of ``path`` itself without a pid (older tunesmith
    versions) is stale too. Files of writers still running are kept, other files are never
    touched. Errors while looking or removing are ignored.
    """
    path = Path(path)
    old_style = f".{path.name}."
    removed = []
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX)]
    except OSError:
        return removed
    for candidate in candidates:
        match = _TEMP_NAME.fullmatch(candidate.name)
        if match is not None:
            stale = not _process_alive(int(match.group("pid")))
        else:
            stale = candidate.name.startswith(old_style)
        if not stale:
            continue
        try:
            candidate.unlink()
        except OSError:
            continue
        log.debug("removed %s, left by an interrupted write", candidate)
        removed.append(candidate)
    return removed


_TEMP_NAME = re.compile(r"\..+\.(?P<pid>\d+)\.[0-9a-f]{8}(\.[^.]*)?" + re.escape(TMP_SUFFIX))


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (zombies count as gone on Linux)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    except OSError:
        return False
    try:  # a killed writer whose parent has not reaped it yet is a zombie: it writes no more
        status = Path(f"/proc/{pid}/stat").read_text()
        return status.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def check_output_dir(path: str | Path, *, what: str = "--out") -> Path:
    """Check, before any work, that ``path`` is (or can become) a folder tunesmith can write in.

    Creates the folder and a temporary file in it, then removes both again (folders it made
    are removed too, so a later failure leaves nothing behind). Returns ``path`` as a Path.

    Raises:
        TunesmithError: one line naming ``what`` and ``path``: it is a file, or the folder
            cannot be created or written.
    """
    path = Path(path)
    if path.is_file():  # one look: another process may remove the folder between two
        raise TunesmithError(f"{what} {path} is a file, not a folder; choose a folder")
    made = [p for p in (path, *path.parents) if not p.exists()]
    try:
        for attempt in range(5):
            probe = path / f".tunesmith-write-test.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}"
            try:
                path.mkdir(parents=True, exist_ok=True)
                os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except (FileNotFoundError, FileExistsError):
                # under torchrun every process checks the same folder: another one may remove
                # the folders it made for its own check while we create ours or probe it
                if attempt == 4 or path.is_file():
                    raise
                continue
            probe.unlink()
            break
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            reason = f"{blocker} is a file"
        raise TunesmithError(f"{what} {path} is not a writable folder ({reason}); choose a writable folder") from exc
    finally:
        for folder in made:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break
    return path


def one_line(text: str, *, limit: int = 300) -> str:
    """``text`` with runs of whitespace (newlines too) made one space, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch."""
    import torch  # imported here, so that readers and writers load without it

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def cache_dir() -> Path:
    """Where prepared datasets are kept: ``$TUNESMITH_CACHE`` or ``~/.cache/tunesmith``."""
    root = (
        os.environ.get("TUNESMITH_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tunesmith"
    )
    return Path(root).expanduser()


_WARNED: set[str] = set()


def usable_cache_dir() -> Path | None:
    """:func:`cache_dir` if it is (or can be made) a writable folder, else None.

    When it is not, one warning (once per process and folder) names the folder and the fix
    (point ``TUNESMITH_CACHE`` to a writable folder), and the caller carries on without a cache.
    """
    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".tunesmith-write-test.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}"
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        probe.unlink()
    except OSError as exc:
        if str(root) in _WARNED:
            return None
        _WARNED.add(str(root))
        reason = "it is a file" if root.is_file() else (exc.strerror or type(exc).__name__)
        log.warning(
            "cache folder %s is not usable (%s): working without a cache; "
            "set TUNESMITH_CACHE to a writable folder to keep prepared data",
            root,
            reason,
        )
        return None
    return root


def die_with_parent(parent_pid: int | None = None) -> None:
    """Make this (worker) process end when its parent ends, even after ``kill -9`` of the parent.

    Meant as a ``ProcessPoolExecutor``/``DataLoader`` worker initializer, given the pid of the
    process that starts the workers (default: the current parent). On Linux the kernel sends
    SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``); where that is not available, or
    the workers were started through a helper process (``forkserver``), a daemon thread checks
    once a second that ``parent_pid`` still runs. A parent that died before this call ends the
    worker at once.
    """
    parent_pid = os.getppid() if parent_pid is None else parent_pid
    armed = sys.platform.startswith("linux") and _set_parent_death_signal()
    if not armed or os.getppid() != parent_pid:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="die-with-parent").start()
    if not _process_alive(parent_pid):
        os._exit(1)


def _set_parent_death_signal() -> bool:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)``; False if it cannot be done."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval: float = 1.0) -> None:
    while _process_alive(parent_pid):
        time.sleep(interval)
    os._exit(1)
