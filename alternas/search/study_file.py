"""The search's Optuna study as an Optuna journal file in the run directory, for ``optuna-dashboard``.

The searcher keeps its study in memory (Ray Tune saves and restores it with the search state, so a
resume continues it exactly); after each trial ends, a copy is written to ``<run dir>/optuna.log``
through Optuna's :class:`~optuna.storages.JournalStorage`, atomically, so a reader always sees a
complete study. Open it with ``optuna-dashboard reports/<name>/optuna.log``, or in Python with
:func:`load_study_file`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from .._atomic import atomic_path

__all__ = ["load_study_file", "name_objectives", "write_study_file"]


def write_study_file(study: optuna.Study, path: Path, study_name: str) -> None:
    """Replace ``path`` with a journal file holding ``study``'s directions, attributes and trials.

    Args:
        study: the searcher's study (any storage).
        path: the journal file (``<run dir>/optuna.log``).
        study_name: the name the copy gets (the recipe's name).

    Raises:
        StorageError: the file cannot be written; the previous copy is kept.
    """
    with atomic_path(path) as partial:
        copy = optuna.create_study(
            storage=JournalStorage(JournalFileBackend(str(partial))),
            study_name=study_name,
            directions=study.directions,
        )
        if study.metric_names:
            name_objectives(copy, study.metric_names)
        for key, value in study.user_attrs.items():
            copy.set_user_attr(key, value)
        copy.add_trials(study.get_trials(deepcopy=False))


def name_objectives(study: optuna.Study, names: list[str]) -> None:
    """Name ``study``'s objectives (what optuna-dashboard labels its axes with). ``set_metric_names`` is
    experimental in Optuna 5; its warning is not the user's concern."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(names))


def load_study_file(path: Path, study_name: str) -> optuna.Study:
    """The study :func:`write_study_file` wrote to ``path`` (read through Optuna's own storage API)."""
    return optuna.load_study(study_name=study_name, storage=JournalStorage(JournalFileBackend(str(path))))
