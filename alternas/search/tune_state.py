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

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray.cloudpickle
from ray.tune.utils.serialization import _loads_with_cloudpickle

from .._readers import short
from ..exceptions import CheckpointError
from .searcher import AlterSearch

__all__ = ["check_tune_state", "what_survives"]


def _experiment_state(data: bytes, started: bool) -> None:
    """Check Tune's experiment state as ``TuneController.resume`` reads it: a dict whose ``runner_data``
    is a dict and whose ``trial_data`` lists ``(trial state, run metadata)`` pairs of JSON objects; once
    trials have started the list is not empty (else Tune would start the search over)."""
    state = _loads_with_cloudpickle(data)
    if not isinstance(state, dict) or not isinstance(state.get("runner_data"), dict):
        raise TypeError(f"holds a {type(state).__name__} without Tune's runner data")
    trials = state.get("trial_data")
    if not isinstance(trials, list) or not all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(json.loads(p), dict) for p in pair)
        for pair in trials
    ):
        raise TypeError("its trial data is not a list of (trial state, run metadata) pairs")
    if started and not trials:
        raise ValueError("it lists no trial, although trials have started")


def _search_generator_state(data: bytes, started: bool) -> None:
    """Check Tune's search-generator state: a dict with the keys ``SearchGenerator.set_state`` reads."""
    state = ray.cloudpickle.loads(data)
    if not isinstance(state, dict):
        raise TypeError(f"holds a {type(state).__name__}, not the search generator's state")
    missing = [key for key in ("counter", "total_samples", "finished", "experiment") if key not in state]
    if missing:
        raise KeyError(f"no {', '.join(missing)}")


def _searcher_state(data: bytes, started: bool) -> None:
    """Check the Optuna searcher's state by rebuilding the searcher from it."""
    AlterSearch.from_state(pickle.loads(data))


#: Tune's state files of a search (a name pattern: the newest name counts) and how a resumed ``fit``
#: reads them, as a check (given the bytes and whether trials have started): the Tuner (loaded by
#: ``Tuner.restore``, which reports its own failure), the experiment state (trials), the search generator
#: with its wrappers, the Optuna searcher
_STATE_FILES: tuple[tuple[str, Callable[[bytes, bool], None] | None], ...] = (
    ("tuner.pkl", None),
    ("experiment_state-*.json", _experiment_state),
    ("search_gen_state-*.json", _search_generator_state),
    ("searcher-state-*.pkl", _searcher_state),
)


def check_tune_state(ray_dir: Path, trials_dir: Path) -> None:
    """Check Tune's saved state of a search as a resumed ``fit`` will read it.

    Args:
        ray_dir: the search's Tune experiment folder (``<run dir>/ray``).
        trials_dir: the run directory's trial folders. Before any trial has written its ``trial.json``
            there, missing state files are fine (Tune starts the experiment afresh and nothing is lost).

    Raises:
        CheckpointError: a state file is missing once trials have started, or it does not load as the
            structure Tune expects (a valid file of another shape counts as damaged).
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
            load(newest.read_bytes(), started)
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
