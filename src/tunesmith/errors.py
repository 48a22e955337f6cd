"""One family of exceptions, so callers can catch everything tunesmith raises on purpose."""

from __future__ import annotations


class TunesmithError(Exception):
    """Base class of every error tunesmith raises deliberately."""


class ConfigError(TunesmithError, ValueError):
    """A configuration key that does not exist, or a value of the wrong type or range."""


class DataError(TunesmithError, ValueError):
    """A music file or dataset that cannot be used: corrupt, empty, unsupported, too large."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple:
        return (type(self), (self.path, self.reason))  # survives worker processes


class CheckpointError(TunesmithError):
    """A checkpoint or run directory that is missing, corrupt, or belongs to another model."""


class DependencyError(TunesmithError, ImportError):
    """An optional dependency or external program is missing."""


class OutputError(TunesmithError, OSError):
    """A file or folder tunesmith must write cannot be written: read-only, a file in the way, disk full."""


class TrainingError(TunesmithError):
    """Training cannot go on: the loss or the validation score stopped being a finite number."""
