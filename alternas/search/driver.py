"""Run a recipe's search: Ray Tune trials sampled by Optuna, resumable, into a search run directory.

:func:`search` validates the recipe (budgets included), prepares the backbone once (the built-in
teacher is pretrained and cached before any trial starts), then runs a Ray Tune ``Tuner`` on the
cluster :func:`~alternas.search.cluster.ray_cluster` provides. A run directory that already holds a
search is continued with ``resume=True``: ``Tuner.restore`` brings back the experiment and the
sampler's state, finished trials are kept, interrupted ones continue from their last checkpoint.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from ray import tune
from ray.tune.schedulers import TrialScheduler
from rich.console import Console

from .._atomic import atomic_write_text
from .._cache import config_hash
from .._readers import short
from ..exceptions import CheckpointError, DataError
from ..recipe import Recipe, inspect_recipe, load_recipe, search_dimensions
from ..recipe.checks import resource_problems
from ..rundir import SearchRunDir, TrialRecord
from ..sources import load_bundle
from .baseline_file import ensure_baseline
from .cluster import ray_cluster
from .confirmation import ConfirmationResult, confirm_search
from .objectives import Objectives
from .progress import ProgressCallback, SearchDisplay
from .scheduler import MOSuccessiveHalving
from .searcher import make_searcher
from .session import exclusive, first_sigint, sigterm_as_interrupt
from .state import SearchState
from .storage import atomic_local_filesystem
from .tracking import tracking_callbacks
from .trainable import run_trial
from .tune_state import check_tune_state, what_survives

__all__ = ["SearchResult", "search"]


@dataclass
class SearchResult:
    """What a search left in its run directory.

    Attributes:
        run_dir: the run directory.
        state: its ``search.json`` (status ``finished``, ``interrupted`` or ``stopped``).
        records: every trial's record.
        front: the finished, feasible trials on the quality / generation-MACs Pareto front.
        confirmation: the confirmation that followed (``report.confirm``; ``None``: off, or the search
            did not finish).
    """

    run_dir: Path
    state: SearchState
    records: list[TrialRecord]
    front: list[TrialRecord]
    confirmation: ConfirmationResult | None = None


def search(
    recipe: str | Path | Mapping[str, Any] | Recipe,
    *,
    resume: bool = False,
    overwrite: bool = False,
    address: str | None = None,
    console: Console | None = None,
) -> SearchResult:
    """Run (or continue) the search a recipe describes.

    Args:
        recipe: a recipe file, a recipe mapping, or a loaded :class:`~alternas.recipe.Recipe`.
        resume: continue the search in the recipe's run directory (start one if there is none).
        overwrite: delete an existing search in the run directory and start over.
        address: a Ray cluster to join (default: ``RAY_ADDRESS``, else a local cluster).
        console: where progress goes (default: standard output).

    Returns:
        The run directory's state; ``state.status`` is ``interrupted`` after a first Ctrl-C (the
        search stops cleanly and can be resumed). With ``report.confirm``, a finished search is then
        confirmed (:func:`~alternas.search.confirm_search`); a resumed one continues its confirmation.

    Raises:
        ConfigError, BudgetError, BackboneError, DataError: the recipe or its inputs are unusable.
        CheckpointError: the run directory holds another search, or one from a different recipe, or a
            resumed search whose Ray Tune state is damaged or missing.
        KeyboardInterrupt: a second Ctrl-C, or SIGTERM (Ray is still shut down first).
    """
    origin = str(recipe) if isinstance(recipe, (str, Path)) else "<recipe>"
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    inspect_recipe(recipe, origin)
    missing = resource_problems(recipe)
    if missing:
        raise DataError("\n".join(problem.format(origin) for problem in missing))
    console = console or Console()
    layout = SearchRunDir(recipe.output_dir)
    with exclusive(layout):
        before = None if overwrite else SearchState.read(layout)
        state = _open_run_dir(layout, recipe, origin, resume, overwrite)
        results = None
        fitting = False
        try:
            check_tune_state(layout.ray_dir, layout.trials_dir)
            _prepare_backbone(recipe, console)
            ensure_baseline(recipe, layout, console)
            started = time.monotonic()
            with ray_cluster(recipe.search, address) as cluster, sigterm_as_interrupt(), first_sigint() as sigint:
                state.cluster = cluster
                tuner = _tuner(recipe, layout)
                fitting = True
                with SearchDisplay(recipe, layout, console):
                    results = tuner.fit()
        finally:
            if fitting:
                interrupted = sigint.is_set() or results is None
                _close_run_dir(layout, recipe, state, results, interrupted, time.monotonic() - started)
            else:
                _undo_open(layout, before)
    confirmation = None
    if recipe.report.confirm is not None and state.status == "finished":
        confirmation = confirm_search(recipe, recipe.report.confirm, address=address, console=console)
        state = SearchState.read(layout)
    records = layout.records()
    return SearchResult(layout.root, state, records, Objectives.from_recipe(recipe).front(records), confirmation)


def _tuner(recipe: Recipe, layout: SearchRunDir) -> tune.Tuner:
    """A new Tuner for the recipe, or the one restored from the run directory's Ray state."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # progress is alternas' to show, new or resumed
    settings = recipe.search
    storage = atomic_local_filesystem()
    trainable = tune.with_resources(
        tune.with_parameters(
            run_trial, recipe=recipe, dimensions=search_dimensions(recipe), run_dir=str(layout.root)
        ),
        {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial},
    )
    if tune.Tuner.can_restore(str(layout.ray_dir), storage_filesystem=storage):
        try:
            return tune.Tuner.restore(
                str(layout.ray_dir), trainable, resume_unfinished=True, resume_errored=False, storage_filesystem=storage
            )
        except Exception as error:  # Ray raises many types for a damaged experiment folder
            raise CheckpointError(
                f"cannot restore the search state from `{layout.ray_dir / 'tuner.pkl'}` (damaged?): "
                f"{type(error).__name__}: {short(error, 120)}. {what_survives(layout.trials_dir)}"
            ) from error
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(recipe, layout.study_file),
            scheduler=_scheduler(recipe, layout),
            num_samples=recipe.planned_trials(),
            max_concurrent_trials=settings.max_concurrent_trials,
            time_budget_s=settings.time_limit_s,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=layout.ray_dir.name,
            storage_path=str(layout.root),
            storage_filesystem=storage,
            verbose=0,
            callbacks=[ProgressCallback(), *tracking_callbacks(recipe)],
            failure_config=tune.FailureConfig(max_failures=settings.max_retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )


def _scheduler(recipe: Recipe, layout: SearchRunDir) -> TrialScheduler | None:
    """The recipe's trial scheduler: multi-objective successive halving, or Tune's default (FIFO)."""
    if recipe.search.scheduler == "mo_asha":
        return MOSuccessiveHalving(
            str(layout.root), Objectives.from_recipe(recipe).lower_is_better, recipe.search.reduction_factor
        )
    return None


def _open_run_dir(layout: SearchRunDir, recipe: Recipe, origin: str, resume: bool, overwrite: bool) -> SearchState:
    """Check the run directory against ``resume`` / ``overwrite``, write the recipe, mark it running."""
    recipe_hash = config_hash(recipe.model_dump(mode="json"))
    state = SearchState.read(layout)
    occupied = layout.root.is_dir() and any(layout.root.iterdir())
    if occupied and state is None:
        raise CheckpointError(
            f"`{layout.root}` is not empty and holds no search (no {layout.search_file.name}); "
            "set `output_dir` to a new folder"
        )
    if state is not None and overwrite:
        shutil.rmtree(layout.root)
        state = None
    elif state is not None and not resume:
        done = sum(record.status in ("finished", "failed") for record in layout.records())
        raise CheckpointError(
            f"`{layout.root}` already holds the search `{state.name}` ({state.status}, {done}/"
            f"{state.planned_trials} trials done); pass --resume to continue it, or --overwrite to "
            "delete it and start over"
        )
    elif state is not None and state.recipe_hash != recipe_hash:
        raise CheckpointError(
            f"`{layout.root}` holds a search started from a different recipe (hash {state.recipe_hash}, "
            f"now {recipe_hash}); restore that recipe to resume, or set another `output_dir` / --overwrite"
        )
    if state is None:
        state = SearchState(
            name=recipe.name,
            recipe=origin,
            recipe_hash=recipe_hash,
            sampler=recipe.search.sampler,
            seed=recipe.search.seed,
            quality_metric=recipe.report.quality_metric,
            planned_trials=recipe.planned_trials(),
        )
        layout.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(layout.recipe_file, yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    state.status = "running"
    state.sessions += 1
    state.write(layout)
    return state


def _close_run_dir(
    layout: SearchRunDir, recipe: Recipe, state: SearchState, results: Any, interrupted: bool, seconds: float
) -> None:
    """Record how the session ended: status, counts, front; trials left running become pending.

    ``interrupted``: the session was stopped (Ctrl-C), so trials Tune stopped on the way out are not
    finished, however Tune counts them."""
    planned = recipe.planned_trials()
    ended = not interrupted and results.num_terminated + results.num_errors >= planned
    limit = recipe.search.time_limit_s
    for record in layout.records():
        if record.status in ("running", "pending") and ended:
            record.status, record.finished_at = "failed", time.time()
            record.error = record.error or (
                "the trial stopped without a result (its worker died, or the driver was killed before the "
                "search state recorded the trial, which was then replaced); see its trial.log"
            )
            layout.write_record(record)
        elif record.status == "running":
            record.status = "pending"
            layout.write_record(record)
    records = layout.records()
    if ended:
        state.status = "finished"
    elif results is not None and limit is not None and state.wall_seconds + seconds >= limit:
        state.status = "stopped"
    else:
        state.status = "interrupted"
    state.finished_trials = sum(r.status == "finished" for r in records)
    state.failed_trials = sum(r.status == "failed" for r in records)
    state.stopped_trials = sum(r.status == "stopped" for r in records)
    state.front = [r.trial_id for r in Objectives.from_recipe(recipe).front(records)]
    state.wall_seconds += seconds
    state.write(layout)


def _undo_open(layout: SearchRunDir, before: SearchState | None) -> None:
    """Nothing ran (the backbone could not be prepared, Ray not started or joined, or the Tuner not
    built): put the run directory back as it was, so that the same command can simply be rerun.

    A run directory this session created is removed. An earlier one gets its ``search.json`` back; if
    none of its trials had started, the Tune state a failed Tuner may have begun to write goes too
    (Tune starts such a search afresh anyway)."""
    if before is None:
        shutil.rmtree(layout.root, ignore_errors=True)
        return
    before.write(layout)
    if not any(layout.trials_dir.glob("*/trial.json")):
        shutil.rmtree(layout.ray_dir, ignore_errors=True)


def _prepare_backbone(recipe: Recipe, console: Console) -> None:
    """Load the backbone once in the driver: a built-in teacher is pretrained and cached here, with
    every core, instead of in a trial; missing weights fail here, before any trial starts."""
    console.print(f"preparing the backbone `{recipe.model.backbone}`", highlight=False, markup=False)
    load_bundle(recipe.model)
