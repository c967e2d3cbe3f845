"""Layout of a search run directory, shared by the search driver (writer) and the report/export (readers).

::

    <run dir>/                    e.g. reports/quickstart
      recipe.yaml                 the resolved recipe the search ran
      search.json                 search-level facts: recipe hash, seeds, wall time, status
      baseline.json               the dense teacher at a ladder of sampler step counts (alternas.report.dense_front)
      baseline_scores.pt          its points' per-image scores, by point label, for intervals
      trials/<trial id>/          one ALTER run (see RUN_FILES) plus trial.json
        trial.json                TrialRecord: status, sampled params, seed, error (a trial stopped at a
                                  rung, which has no metrics.json: also the rung's results)
        metrics.json              TrialMetrics: the one stored copy of the trial's metrics
        quality_scores.pt         per-image scores of experts and teacher (alternas.quality), for intervals
        config.yaml  plan.yaml  history.json  backbone/  samples/  checkpoints/
      ray/                        Ray Tune's experiment storage (resume state)
      confirmations/<trial id>/   confirmation runs (`report.confirm`): a search trial's configuration
                                  retrained with a new seed; trial.json names it in `confirms`
      ray-confirm/                Ray Tune's storage of the confirmation runs
      report.html  report.md  frontier.json  figures/     written by `alternas report`
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from ._atomic import atomic_write_text
from ._readers import read_model
from .exceptions import CheckpointError
from .metrics import TrialMetrics

__all__ = [
    "RUN_FILES",
    "CONFIRMATIONS_FOLDER",
    "TrialRecord",
    "SearchRunDir",
    "TrialStatus",
    "UnreadableTrial",
    "read_metrics",
    "write_metrics",
]

#: files the run directory of one ALTER run holds (``alternas train``, or one trial of a search)
RUN_FILES = {
    "config": "config.yaml",
    "plan": "plan.yaml",
    "metrics": "metrics.json",
    "scores": "quality_scores.pt",
    "history": "history.json",
    "backbone": "backbone",
    "checkpoints": "checkpoints",
    "samples": "samples",
}

#: folder of a run directory's confirmation runs (:meth:`SearchRunDir.confirmations`)
CONFIRMATIONS_FOLDER = "confirmations"

#: in ``samples/``: the condition (class label or prompt) of each image of the sample grids, in grid order
SAMPLE_CONDITIONS = "conditions.json"

#: stopped: ended early by the successive-halving scheduler at a rung (its metrics are the rung's)
TrialStatus = Literal["pending", "running", "finished", "failed", "stopped"]


class TrialRecord(BaseModel):
    """What a search knows about one trial (``trials/<id>/trial.json``)."""

    model_config = ConfigDict(extra="forbid")

    trial_id: str
    status: TrialStatus
    params: dict[str, Any] = Field(default_factory=dict, description="sampled search values, dotted keys")
    seed: int
    attempts: int = Field(1, description="how many times the trial was started (retries, resumes)")
    error: str | None = Field(None, description="why the trial failed")
    feasible: bool | None = Field(None, description="whether the trial met the recipe's budget constraints")
    metrics: TrialMetrics = Field(
        default_factory=TrialMetrics,
        description="final metrics, stored in the trial's metrics.json; trial.json holds them only for a "
        "trial stopped at a rung (the rung's results; it has no metrics.json) and in older run dirs",
    )
    started_at: float | None = Field(None, description="UNIX time")
    finished_at: float | None = Field(None, description="UNIX time")
    resumed_from_step: int | None = Field(None, description="checkpoint step a restarted trial continued from")
    confirms: str | None = Field(
        None, description="a confirmation run: the search trial whose configuration it retrains with a new seed"
    )
    node_id: str | None = Field(None, description="the Ray node its last attempt ran on")
    hostname: str | None = Field(None, description="the host of that node")

    @field_serializer("metrics")
    def _measured_metrics(self, metrics: TrialMetrics) -> dict[str, Any]:
        return metrics.values()


def write_metrics(run_dir: Path, metrics: TrialMetrics) -> Path:
    """Write ``metrics.json`` of one ALTER run atomically (a crash never leaves half a file)."""
    return atomic_write_text(Path(run_dir) / RUN_FILES["metrics"], json.dumps(metrics.values(), indent=2))


def read_metrics(run_dir: Path) -> TrialMetrics | None:
    """``metrics.json`` of one ALTER run (``None`` when it has none yet).

    Raises:
        CheckpointError: the file is damaged (not JSON, another type, a field of the wrong type).
    """
    path = Path(run_dir) / RUN_FILES["metrics"]
    return read_model(path, TrialMetrics) if path.is_file() else None


@dataclass(frozen=True)
class UnreadableTrial:
    """A trial whose ``trial.json`` or ``metrics.json`` cannot be read: never reported as finished, never
    the winner.

    Attributes:
        trial_id: the trial's folder name under ``trials/``.
        path: its ``trial.json``.
        reason: what is wrong with the file (names the file).
    """

    trial_id: str
    path: Path
    reason: str


class SearchRunDir:
    """Paths and records of one search run directory.

    Args:
        root: the run directory.
        trials_folder: the folder of the runs it reads and writes: ``trials`` (the search's) or
            ``confirmations`` (see :meth:`confirmations`).
    """

    def __init__(self, root: str | Path, trials_folder: str = "trials") -> None:
        self.root = Path(root)
        self.trials_folder = trials_folder

    def confirmations(self) -> SearchRunDir:
        """The same run directory's confirmation runs (``confirmations/<trial id>/``, records like a trial's,
        with ``confirms`` naming the search trial they retrain)."""
        return SearchRunDir(self.root, CONFIRMATIONS_FOLDER)

    @property
    def confirm_ray_dir(self) -> Path:
        """Ray Tune's experiment storage of the confirmation runs."""
        return self.root / "ray-confirm"

    @property
    def recipe_file(self) -> Path:
        return self.root / "recipe.yaml"

    @property
    def search_file(self) -> Path:
        return self.root / "search.json"

    @property
    def trials_dir(self) -> Path:
        return self.root / self.trials_folder

    @property
    def ray_dir(self) -> Path:
        return self.root / "ray"

    @property
    def rungs_file(self) -> Path:
        """Successive-halving decisions by rung (``search.scheduler: mo_asha``)."""
        return self.root / "rungs.json"

    @property
    def study_file(self) -> Path:
        """The Optuna study as a journal file (``optuna-dashboard <run dir>/optuna.log``)."""
        return self.root / "optuna.log"

    def trial_dir(self, trial_id: str) -> Path:
        """Folder of one trial (an :func:`alternas.train_alter` run directory).

        Raises:
            CheckpointError: ``trial_id`` is not a plain folder name (it would leave ``trials/``).
        """
        if not trial_id or trial_id in (".", "..") or any(c in trial_id for c in "/\\\0"):
            raise CheckpointError(
                f"`{trial_id!r}` is not a trial id: pass the name of a folder directly under `{self.trials_dir}`"
            )
        return self.trials_dir / trial_id

    def write_record(self, record: TrialRecord) -> Path:
        """Write ``trial.json`` atomically, after its metrics (if any) to ``metrics.json``, so a record
        that says ``finished`` always has them. A stopped trial's rung results stay in ``trial.json``:
        it was never evaluated, so it has no ``metrics.json``.

        Returns:
            the path of ``trial.json``.
        """
        directory = self.trial_dir(record.trial_id)
        in_record = record.status == "stopped"
        if record.metrics.values() and not in_record:
            write_metrics(directory, record.metrics)
        text = record.model_dump_json(indent=2, exclude=None if in_record else {"metrics"})
        return atomic_write_text(directory / "trial.json", text)

    def read_record(self, trial_id: str) -> TrialRecord:
        """The record of one trial with its metrics; its id is its folder's name, which the record must repeat.

        Raises:
            CheckpointError: ``trial.json`` is missing, damaged, or names another trial, or ``metrics.json``
                is damaged.
        """
        path = self.trial_dir(trial_id) / "trial.json"
        if not path.is_file():
            raise CheckpointError(f"trial `{trial_id}` has no record at `{path}`")
        record = read_model(path, TrialRecord)
        if record.trial_id != trial_id:
            raise CheckpointError(
                f"`{path}` is damaged: it names the trial `{record.trial_id}`, not its folder `{trial_id}`"
            )
        stored = read_metrics(path.parent)
        if stored is not None:
            record.metrics = record.metrics.model_copy(update=stored.values())
        return record

    def scan(self) -> tuple[list[TrialRecord], list[UnreadableTrial]]:
        """Every readable trial record and every unreadable one, each sorted by trial id."""
        records, unreadable = [], []
        for path in sorted(self.trials_dir.glob("*/trial.json")):
            trial_id = path.parent.name
            try:
                records.append(self.read_record(trial_id))
            except CheckpointError as error:
                unreadable.append(UnreadableTrial(trial_id, path, str(error)))
        for folder in sorted(self.trials_dir.glob("*/")):  # results without a record: its trial.json is gone
            results = [RUN_FILES[name] for name in ("plan", "metrics") if (folder / RUN_FILES[name]).is_file()]
            if results and not (folder / "trial.json").exists():
                unreadable.append(UnreadableTrial(
                    folder.name,
                    folder / "trial.json",
                    f"`{folder / 'trial.json'}` (the trial's record) is missing, although {' and '.join(results)} "
                    "are there; without it the trial cannot be reported or exported",
                ))
        unreadable.sort(key=lambda trial: trial.trial_id)
        return records, unreadable

    def records(self) -> list[TrialRecord]:
        """Every readable trial record, sorted by trial id (see :meth:`scan` for the unreadable ones)."""
        return self.scan()[0]

    def finished(self) -> list[TrialRecord]:
        """Records of trials that finished (have a plan and metrics)."""
        return [r for r in self.records() if r.status == "finished"]
