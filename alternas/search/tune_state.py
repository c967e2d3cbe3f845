"""Check, before a resume, that Ray Tune can load the state it saved for a search.

``Tuner.restore`` reads only ``tuner.pkl``; the experiment state and the searcher's state are loaded
later, inside ``fit``, and a failure there is not raised: Tune logs it and starts the experiment over,
with a new searcher or one whose wrappers were restored and whose sampler was not. Trials then run
again under new ids, or the search waits forever for a searcher that never suggests. Without
``tuner.pkl`` the driver would start a new experiment beside the trials of the old one. So once a
search's trials have started, a resume first checks that all four files are there and loads the three
that ``fit`` reads (the newest of each, as Tune picks them), and stops with the file's name.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray.cloudpickle
from ray.tune.utils.serialization import _loads_with_cloudpickle

from .._readers import short
from ..exceptions import CheckpointError

__all__ = ["check_tune_state", "what_survives"]

#: Tune's state files of a search (a name pattern: the newest name counts) and how a resumed ``fit``
#: loads them: the Tuner (loaded by ``Tuner.restore``, which reports its own failure), the experiment
#: state (trials), the search generator with its wrappers, the Optuna searcher
_STATE_FILES: tuple[tuple[str, Callable[[bytes], Any] | None], ...] = (
    ("tuner.pkl", None),
    ("experiment_state-*.json", _loads_with_cloudpickle),
    ("search_gen_state-*.json", ray.cloudpickle.loads),
    ("searcher-state-*.pkl", pickle.loads),
)


def check_tune_state(ray_dir: Path, trials_dir: Path) -> None:
    """Check Tune's saved state of a search as a resumed ``fit`` will read it.

    Args:
        ray_dir: the search's Tune experiment folder (``<run dir>/ray``).
        trials_dir: the run directory's trial folders. Before any trial has written its ``trial.json``
            there, missing state files are fine (Tune starts the experiment afresh and nothing is lost).

    Raises:
        CheckpointError: a state file is missing once trials have started, or it does not load.
    """
    started = any(trials_dir.glob("*/trial.json"))
    for pattern, load in _STATE_FILES:
        candidates = sorted(ray_dir.glob(pattern))
        if not candidates:
            if started:
                raise CheckpointError(
                    f"cannot resume: Ray Tune's search state `{ray_dir / pattern}` is missing, so Tune would "
                    f"start the search over beside its trials. {what_survives(trials_dir)}"
                )
            continue
        newest = candidates[-1]
        if load is None:
            continue
        try:
            load(newest.read_bytes())
        except Exception as error:  # unpickling a damaged file raises almost any type
            raise CheckpointError(
                f"cannot resume: Ray Tune's search state `{newest}` is damaged ({type(error).__name__}: "
                f"{short(error, 120)}). {what_survives(trials_dir)}"
            ) from error


def what_survives(trials_dir: Path) -> str:
    """What a user keeps, and can do, when a search's Tune state cannot be resumed (ends an error message)."""
    return (
        f"The finished trials in `{trials_dir}` are intact and `alternas report` reads them, but this search "
        "cannot continue: start a new one (another output_dir, or --overwrite)"
    )
