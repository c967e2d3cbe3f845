"""The exception hierarchy of alternas.

Every error a user can cause derives from :class:`AlternasError`; the command line turns it into one
clear message and a non-zero exit code instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "AlternasError",
    "ConfigError",
    "BudgetError",
    "BackboneError",
    "DataError",
    "CheckpointError",
    "TrainingDiverged",
    "MissingDependencyError",
    "StorageError",
]


class AlternasError(Exception):
    """Root of every error alternas raises on purpose."""

    exit_code: int = 1


class ConfigError(AlternasError):
    """A recipe, search space or config value is malformed (wrong key, type or value)."""

    exit_code = 2


class BudgetError(ConfigError):
    """A MACs budget cannot be met by the selected units (it is below their fixed cost, or above dense)."""


class BackboneError(AlternasError):
    """A backbone cannot be loaded, or has no prunable units matching the selection."""

    exit_code = 2


class DataError(AlternasError):
    """A dataset is missing, empty, unreadable or lacks a required column."""

    exit_code = 2


class CheckpointError(AlternasError):
    """A checkpoint or run directory is missing, corrupted or does not belong to this run."""

    exit_code = 2


class TrainingDiverged(AlternasError):
    """A loss or gradient became NaN/inf; the run is stopped and recorded as failed with this reason."""


class MissingDependencyError(AlternasError):
    """An optional dependency (or model weights) needed for a feature is not installed or not on disk."""

    exit_code = 2


class StorageError(AlternasError):
    """A file cannot be written (disk full, no permission); the previous version of the file is kept."""

    exit_code = 2
