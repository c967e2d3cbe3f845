"""Confirm a finished search: retrain its best candidates with new training seeds, as Ray Tune trials of the
same run directory.

A search scores each configuration once, on one training seed, so the trial that tops the front is partly
a lucky seed. :func:`confirm_search` takes the winner rule's best ``top_k`` trials that no dense point
dominates (those beyond the baseline first, as the winner rule sees them, then those within its noise),
and retrains each one's exact run config with ``seeds`` new seeds into ``confirmations/<trial id>/``. The runs are a second Tune experiment
(``ray-confirm/``): resumable like the search, shown in the same live table, recorded like trials; the
report then ranks configurations by their confirmed means (:mod:`alternas.report.uncertainty`).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune
from rich.console import Console

from .._readers import short
from ..config import ConfirmConfig
from ..exceptions import CheckpointError
from ..recipe import Recipe
from ..report import Report, build_report
from ..report.winner import rank_candidates
from ..rundir import SearchRunDir, TrialRecord
from .cluster import ray_cluster
from .progress import ProgressCallback, SearchDisplay
from .session import exclusive, first_sigint, sigterm_as_interrupt
from .state import ConfirmationState, SearchState
from .storage import atomic_local_filesystem
from .trainable import CONFIRMATION_KEY, CONFIRMS_KEY, SEED_KEY, run_confirmation

__all__ = ["CONFIRMATION_SEED_BASE", "ConfirmationResult", "choose_candidates", "confirm_search", "confirmation_seeds"]

#: confirmation seeds start here (+ 100 x search.seed): far from the search's own (search.seed + trial number)
CONFIRMATION_SEED_BASE = 1_000_000


@dataclass
class ConfirmationResult:
    """What a confirmation left in the run directory.

    Attributes:
        run_dir: the run directory.
        state: its confirmation state (status ``finished`` or ``interrupted``; ``None``: nothing to confirm).
        runs: every confirmation run's record.
        message: one line on what was confirmed.
    """

    run_dir: Path
    state: ConfirmationState | None
    runs: list[TrialRecord]
    message: str


def confirmation_seeds(search_seed: int, count: int) -> list[int]:
    """The new training seeds of a confirmation: ``count`` seeds no search trial of ``search_seed`` uses."""
    return [CONFIRMATION_SEED_BASE + 100 * search_seed + index for index in range(count)]


def confirm_search(
    recipe: Recipe,
    settings: ConfirmConfig,
    *,
    overwrite: bool = False,
    address: str | None = None,
    console: Console | None = None,
) -> ConfirmationResult:
    """Retrain the finished search's best candidates with new seeds (or continue an interrupted confirmation).

    Args:
        recipe: the search's recipe (its run directory is ``recipe.output_dir``).
        settings: how many candidates and seeds.
        overwrite: discard an earlier confirmation with other settings and start over.
        address: a Ray cluster to join (default: ``RAY_ADDRESS``, else a local cluster).
        console: where progress goes.

    Raises:
        CheckpointError: the run directory holds no finished search, or a confirmation with other settings
            (and not ``overwrite``), or its Tune state cannot be restored.
        KeyboardInterrupt: a second Ctrl-C, or SIGTERM (Ray is still shut down first).
    """
    console = console or Console()
    layout = SearchRunDir(recipe.output_dir)
    with exclusive(layout):
        state = SearchState.read(layout)
        if state is None or state.status != "finished":
            status = "no search" if state is None else f"a search that is {state.status}"
            raise CheckpointError(
                f"`{layout.root}` holds {status}; confirmation retrains a finished search's best trials: "
                "finish the search first (`alternas search --resume`)"
            )
        seeds = confirmation_seeds(state.seed, settings.seeds)
        confirmation = _open(layout, state, recipe, settings, seeds, overwrite)
        if confirmation is None:
            return ConfirmationResult(layout.root, None, [], "no trial to confirm: every scored trial is dominated "
                                      "by a dense point (the report names the dense step count to run instead)")
        console.print(
            f"confirming {len(confirmation.candidates)} configuration(s) ({', '.join(confirmation.candidates)}) "
            f"with {len(seeds)} new seeds each: {confirmation.planned_runs} runs",
            highlight=False,
        )
        results, interrupted = None, True
        started = time.monotonic()
        try:
            with ray_cluster(recipe.search, address), sigterm_as_interrupt(), first_sigint() as sigint:
                tuner = _tuner(recipe, layout, confirmation)
                runs = layout.confirmations()
                with SearchDisplay(recipe, runs, console, planned=confirmation.planned_runs):
                    results = tuner.fit()
                interrupted = sigint.is_set()
        finally:
            _close(layout, state, confirmation, results, interrupted, time.monotonic() - started)
    records = layout.confirmations().records()
    done = sum(r.status == "finished" for r in records)
    return ConfirmationResult(
        layout.root, confirmation, records,
        f"confirmation {confirmation.status}: {done} of {confirmation.planned_runs} runs finished",
    )


def choose_candidates(report: Report, top_k: int) -> list[str]:
    """The trials to confirm: the winner rule's best ``top_k`` among those no dense point dominates, those
    beyond the baseline first (the ones the winner rule lets compete), then those within its noise."""
    open_to_win = [entry for entry in report.entries if entry.eligible and entry.dominated_by is None]
    beyond = [entry for entry in open_to_win if entry.beyond_baseline is not False]
    within_noise = [entry for entry in open_to_win if entry.beyond_baseline is False]
    ranked = rank_candidates(report.config, beyond, top_k)
    ranked += rank_candidates(report.config, within_noise, top_k - len(ranked))
    return [entry.trial_id for entry in ranked]


def _open(
    layout: SearchRunDir, state: SearchState, recipe: Recipe, settings: ConfirmConfig, seeds: list[int], overwrite: bool
) -> ConfirmationState | None:
    """The confirmation to run: the one begun with the same settings, or a new one (candidates chosen now)."""
    existing = state.confirmation
    if existing is not None and (existing.top_k != settings.top_k or existing.seeds != seeds or overwrite):
        if not overwrite:
            raise CheckpointError(
                f"`{layout.root}` already holds a confirmation of {', '.join(existing.candidates)} with seeds "
                f"{existing.seeds}; pass --overwrite to discard it and confirm with top_k={settings.top_k}, "
                f"seeds={settings.seeds}"
            )
        shutil.rmtree(layout.confirmations().trials_dir, ignore_errors=True)
        shutil.rmtree(layout.confirm_ray_dir, ignore_errors=True)
        existing = None
    if existing is None:
        candidates = choose_candidates(build_report(layout.root, recipe.report), settings.top_k)
        if not candidates:
            return None
        existing = ConfirmationState(top_k=settings.top_k, candidates=candidates, seeds=seeds)
    existing.status = "running"
    existing.sessions += 1
    state.confirmation = existing
    state.write(layout)
    return existing


def _tuner(recipe: Recipe, layout: SearchRunDir, confirmation: ConfirmationState) -> tune.Tuner:
    """The confirmation's Tuner: a grid of (candidate, seed) points, or the one restored from ``ray-confirm/``."""
    settings = recipe.search
    storage = atomic_local_filesystem()
    trainable = tune.with_resources(
        tune.with_parameters(run_confirmation, recipe=recipe, run_dir=str(layout.root)),
        {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial},
    )
    if tune.Tuner.can_restore(str(layout.confirm_ray_dir), storage_filesystem=storage):
        try:
            return tune.Tuner.restore(
                str(layout.confirm_ray_dir), trainable, resume_unfinished=True, resume_errored=False,
                storage_filesystem=storage,
            )
        except Exception as error:  # Ray raises many types for a damaged experiment folder
            raise CheckpointError(
                f"cannot restore the confirmation state from `{layout.confirm_ray_dir}` (damaged?): "
                f"{type(error).__name__}: {short(error, 120)}; rerun with --overwrite to start the confirmation over"
            ) from error
    points = [
        {CONFIRMS_KEY: trial_id, SEED_KEY: seed} for trial_id in confirmation.candidates for seed in confirmation.seeds
    ]
    return tune.Tuner(
        trainable,
        param_space={CONFIRMATION_KEY: tune.grid_search(points)},
        tune_config=tune.TuneConfig(max_concurrent_trials=settings.max_concurrent_trials, reuse_actors=True),
        run_config=tune.RunConfig(
            name=layout.confirm_ray_dir.name,
            storage_path=str(layout.root),
            storage_filesystem=storage,
            verbose=0,
            callbacks=[ProgressCallback()],
            failure_config=tune.FailureConfig(max_failures=settings.max_retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )


def _close(
    layout: SearchRunDir,
    state: SearchState,
    confirmation: ConfirmationState,
    results: Any,
    interrupted: bool,
    seconds: float,
) -> None:
    """Record how the confirmation session ended; runs left running become pending (resumable)."""
    runs = layout.confirmations()
    ended = results is not None and not interrupted
    for record in runs.records():
        if record.status == "running":
            record.status = "failed" if ended else "pending"
            if ended:
                record.error = record.error or "the run stopped without a result (its worker died); see its trial.log"
            runs.write_record(record)
    records = runs.records()
    confirmation.status = "finished" if ended else "interrupted"
    confirmation.finished_runs = sum(r.status == "finished" for r in records)
    confirmation.failed_runs = sum(r.status == "failed" for r in records)
    confirmation.wall_seconds += seconds
    state.confirmation = confirmation
    state.write(layout)
