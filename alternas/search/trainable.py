"""The Ray Tune function trainable: one trial = one ALTER run in ``<run dir>/trials/<trial id>/``.

A trial reports progress every ``train.log_every`` iterations and each checkpoint through
:func:`ray.tune.report`, so Tune persists the checkpoint and a restarted trial (a retry after an
error, or a resumed search) continues from it. A trial whose record already says ``finished`` (its
driver died before Tune saved that fact) reports its stored result again instead of training twice.
Its :class:`~alternas.rundir.TrialRecord` is kept current: running, finished or failed with the reason.
A trial that raises is restarted by Tune up to ``search.max_retries`` times; one that diverges ends
as failed at once (training is deterministic, so a retry would diverge again) and reports no
objectives, which the searcher tells Optuna as a failed trial.

A confirmation run (:func:`run_confirmation`) is the same, in ``<run dir>/confirmations/<trial id>/``: a
finished search trial's exact run config retrained with a new seed.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune

from ..api import train_alter
from ..checkpoints import latest_checkpoint
from ..exceptions import CheckpointError, TrainingDiverged
from ..metrics import TrialMetrics
from .._readers import read_model
from ..config import RunConfig
from ..recipe import Recipe, SearchDimension, resolve_trial
from ..rundir import RUN_FILES, SearchRunDir, TrialRecord
from ..trainer import AlterTrainer, TrainerCallback
from .objectives import CONSTRAINT_METRIC, OVER_BUDGET_METRIC, Objectives
from .scheduler import rung_metrics

__all__ = ["run_trial", "run_confirmation", "PROGRESS_KEYS", "SEED_KEY", "CONFIRMATION_KEY", "CONFIRMS_KEY"]

#: key of a trial's training seed in its Tune config, next to the sampled values (the searcher adds it)
SEED_KEY = "seed"
#: key of a confirmation run's grid point in its Tune config: ``{CONFIRMS_KEY: trial id, SEED_KEY: seed}``
CONFIRMATION_KEY = "run"
#: key of the search trial a confirmation run retrains
CONFIRMS_KEY = "confirms"
#: training metrics a progress report carries (when the trainer logged them)
PROGRESS_KEYS = ("loss_backbone", "loss_hypernet", "macs_share_hard", "macs_share_soft", "experts_in_use")
_CHECKPOINT_STEP = "step"


def run_trial(
    config: dict[str, Any], recipe: Recipe, dimensions: Sequence[SearchDimension], run_dir: str
) -> None:
    """Train and evaluate the trial Tune sampled as ``config``; Tune calls this in a worker.

    Args:
        config: the sampled values (see :func:`~alternas.recipe.search_params`) and the trial's seed.
        recipe: the validated recipe.
        dimensions: the recipe's search dimensions as the driver has them (a worker's own registry lacks
            dimensions registered in the driver's process).
        run_dir: the search run directory.
    """
    trial = resolve_trial(recipe, config, seed=int(config[SEED_KEY]), dimensions=dimensions)
    rungs = _rung_steps(recipe, trial.run.train.steps)
    probe = _rung_probe(recipe, trial.budget_share) if rungs else None
    _train_run(SearchRunDir(run_dir), recipe, trial.run, trial.params, trial.budget_share, rungs, probe)


def run_confirmation(config: dict[str, Any], recipe: Recipe, run_dir: str) -> None:
    """Retrain a search trial's exact run config with a new seed into ``confirmations/<trial id>/``.

    Args:
        config: ``{"run": {CONFIRMS_KEY: search trial id, SEED_KEY: the new seed}}`` (a grid point).
        recipe: the validated recipe.
        run_dir: the search run directory.
    """
    point = config[CONFIRMATION_KEY]
    layout = SearchRunDir(run_dir)
    searched = layout.read_record(point[CONFIRMS_KEY])
    base = read_model(layout.trial_dir(searched.trial_id) / RUN_FILES["config"], RunConfig)
    run = base.model_copy(update={"train": base.train.model_copy(update={"seed": int(point[SEED_KEY])})})
    metrics = searched.metrics
    budget_share = metrics.budget_generation_macs / metrics.teacher_generation_macs
    _train_run(layout.confirmations(), recipe, run, searched.params, budget_share, confirms=searched.trial_id)


def _train_run(
    layout: SearchRunDir,
    recipe: Recipe,
    run: RunConfig,
    params: dict[str, Any],
    budget_share: float,
    rung_steps: Sequence[int] = (),
    probe: Callable[[AlterTrainer, int], dict[str, float]] | None = None,
    confirms: str | None = None,
) -> None:
    """Train and evaluate ``run`` as the current Tune trial in ``layout``, keeping its record current."""
    trial_id = tune.get_context().get_trial_id()
    objectives = Objectives.from_recipe(recipe)
    previous = _read_previous(layout, trial_id)
    if previous is not None and previous.status == "finished":
        tune.report(_final_result(previous.metrics, objectives, run.train.steps))
        return

    trial_dir = layout.trial_dir(trial_id)
    trial_dir.mkdir(parents=True, exist_ok=True)
    record = TrialRecord(
        trial_id=trial_id,
        status="running",
        params=params,
        seed=run.train.seed,
        attempts=previous.attempts + 1 if previous is not None else 1,
        started_at=previous.started_at if previous is not None else time.time(),
        resumed_from_step=previous.resumed_from_step if previous is not None else None,
        node_id=ray.get_runtime_context().get_node_id(),
        hostname=socket.gethostname(),
        confirms=confirms,
    )
    with _trial_log(trial_dir / "trial.log"), contextlib.ExitStack() as stack:
        resume_from, step = _resume_point(trial_dir, stack)
        if step is not None:
            record.resumed_from_step = step
        layout.write_record(record)
        try:
            reporter = _TuneReporter(rung_steps, probe)
            result = train_alter(run, run_dir=trial_dir, callbacks=[reporter], resume_from=resume_from)
        except Exception as error:
            logging.getLogger("alternas").exception("trial %s failed", trial_id)
            record.status, record.error, record.finished_at = "failed", f"{type(error).__name__}: {error}", time.time()
            layout.write_record(record)
            if not isinstance(error, TrainingDiverged):
                raise  # Tune retries it from its last checkpoint (search.max_retries)
            tune.report({"step": run.train.steps, "total_steps": run.train.steps})
            return  # training is deterministic: a retry would diverge again, so the trial ends here
    metrics = objectives.with_budget(result.metrics, budget_share)
    record.status, record.metrics, record.finished_at = "finished", metrics, time.time()
    record.feasible = metrics.budget_constraint <= 0
    layout.write_record(record)  # rewrites metrics.json with the budget, then trial.json
    tune.report(_final_result(metrics, objectives, run.train.steps))


class _TuneReporter(TrainerCallback):
    """Reports training progress to Tune, each checkpoint with it, and a cheap evaluation at each rung.

    Args:
        rung_steps: training steps of the successive-halving rungs (empty: no rungs).
        probe: the rung's evaluation, ``probe(trainer, rung index)`` -> result keys.
    """

    def __init__(
        self,
        rung_steps: Sequence[int] = (),
        probe: Callable[[AlterTrainer, int], dict[str, float]] | None = None,
    ) -> None:
        self._last: dict[str, float] = {}
        self._rungs = list(enumerate(rung_steps))
        self._probe = probe

    def on_step(self, trainer: AlterTrainer, step: int, metrics: dict[str, float], **info: Any) -> None:
        self._last = _progress(metrics, step, trainer.total_steps)
        reached = [index for index, rung_step in self._rungs if rung_step <= step]
        self._rungs = [(index, rung_step) for index, rung_step in self._rungs if rung_step > step]
        if reached and self._probe is not None:
            tune.report({**self._last, **self._probe(trainer, reached[-1])})
        else:
            tune.report(self._last)

    def on_checkpoint(self, trainer: AlterTrainer, step: int, path: Path, **info: Any) -> None:
        checkpoint = tune.Checkpoint.from_directory(path)
        checkpoint.set_metadata({_CHECKPOINT_STEP: step})
        tune.report({**self._last, "step": step}, checkpoint=checkpoint)


def _rung_steps(recipe: Recipe, steps: int) -> list[int]:
    """Training steps of the rungs (``search.rungs`` x ``steps``); none unless the scheduler is mo_asha."""
    if recipe.search.scheduler != "mo_asha":
        return []
    return sorted({max(1, round(share * steps)) for share in recipe.search.rungs})


def _rung_probe(recipe: Recipe, budget_share: float) -> Callable[[AlterTrainer, int], dict[str, float]]:
    """The evaluation a trial reports at a rung: quality on ``search.rung_samples`` samples, total MACs,
    the MACs budget and the budget constraint (as its final result defines them)."""
    from ..evaluation.trial import probe_trial

    objectives = Objectives.from_recipe(recipe)

    def probe(trainer: AlterTrainer, rung: int) -> dict[str, float]:
        metrics = objectives.with_budget(probe_trial(trainer, recipe.search.rung_samples), budget_share)
        return rung_metrics(
            rung,
            metrics.quality(objectives.quality_metric),
            metrics.generation_macs,
            metrics.budget_generation_macs,
            metrics.budget_constraint,
        )

    return probe


def _progress(metrics: dict[str, float], step: int, total: int) -> dict[str, float]:
    return {"step": step, "total_steps": total, **{k: metrics[k] for k in PROGRESS_KEYS if k in metrics}}


def _final_result(metrics: TrialMetrics, objectives: Objectives, total_steps: int) -> dict[str, Any]:
    """The trial's last result: the objectives, the constraint, and a few numbers for the display."""
    keys = [*objectives.metrics, CONSTRAINT_METRIC, OVER_BUDGET_METRIC, "macs_share", "speedup"]
    values = metrics.values()
    return {**{key: values[key] for key in keys if key in values}, "step": total_steps, "total_steps": total_steps}


def _read_previous(layout: SearchRunDir, trial_id: str) -> TrialRecord | None:
    """The trial's record from an earlier attempt, if any (an unreadable one counts as none)."""
    path = layout.trial_dir(trial_id) / "trial.json"
    if not path.is_file():
        return None
    try:
        return layout.read_record(trial_id)
    except CheckpointError:  # a torn file from a killed worker: start the record over
        return None


def _resume_point(trial_dir: Path, stack: contextlib.ExitStack) -> tuple[Path | None, int | None]:
    """The newest checkpoint to continue from and its step: Tune's latest or the trial folder's newest
    (the folder is ahead when the driver died between a checkpoint and Tune's record of it)."""
    local = latest_checkpoint(trial_dir / "checkpoints")
    local_step = int(local.name.removeprefix("step-")) if local is not None else None
    checkpoint = tune.get_checkpoint()
    step = _tune_checkpoint_step(checkpoint) if checkpoint is not None else None
    if step is not None and (local_step is None or step >= local_step):
        return Path(stack.enter_context(checkpoint.as_directory())), step
    return local, local_step


def _tune_checkpoint_step(checkpoint: tune.Checkpoint) -> int | None:
    """The step Tune's checkpoint was taken at; ``None`` (logged) when its metadata cannot be read, so the
    trial continues from its own folder's newest checkpoint instead of failing on every retry."""
    try:
        return int(checkpoint.get_metadata()[_CHECKPOINT_STEP])
    except (OSError, ValueError, KeyError, TypeError) as error:
        logging.getLogger("alternas").warning(
            "ignoring Tune's checkpoint %s: its metadata cannot be read (%s: %s)", checkpoint.path, type(error).__name__, error
        )
        return None


@contextlib.contextmanager
def _trial_log(path: Path):
    """Copy alternas' log records of this trial into ``path`` (workers' consoles are not shown)."""
    logger = logging.getLogger("alternas")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
