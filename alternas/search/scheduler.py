"""Multi-objective successive halving (``search.scheduler: mo_asha``) as a Ray Tune trial scheduler.

In the spirit of MO-ASHA (Schmucker et al., 2021), asynchronous: a trial reaching a rung (a share of
``train.steps``, ``search.rungs``) reports a cheap evaluation (``search.rung_samples`` samples of the
evaluation noise) and continues only if no trial recorded at that rung *dominates* it. Domination is
constrained (Deb's rule): a feasible point (generation MACs within the budget and its tolerance)
dominates an infeasible one, of two infeasible points the smaller budget excess dominates, and of two
feasible points one dominates when it is no worse in quality and total MACs and better in one.

A stopped trial keeps its partial results: its ``trial.json`` says ``stopped`` and holds the rung's
metrics. Every decision is written atomically to ``<run dir>/rungs.json`` before it is acted on, so a
resumed search compares against the same points and repeats a decision it already took.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from .._atomic import atomic_write_text
from .._readers import read_json
from ..metrics import TrialMetrics
from ..rundir import SearchRunDir

__all__ = ["RUNG_KEY", "RungPoint", "MOSuccessiveHalving", "dominates", "rung_metrics"]

#: result key of a rung report: the rung's index (0 = first rung)
RUNG_KEY = "rung"
#: result keys of a rung report's evaluation
RUNG_QUALITY, RUNG_MACS, RUNG_CONSTRAINT = "rung_quality", "rung_generation_macs", "rung_budget_constraint"

Decision = Literal["continue", "stop"]


@dataclass(frozen=True)
class RungPoint:
    """One trial's evaluation at a rung and what was decided.

    Attributes:
        quality: the quality metric on the rung's samples (the sign as measured).
        generation_macs: measured MACs of generating one sample.
        constraint: budget excess minus the tolerance (feasible when <= 0).
        decision: ``continue`` or ``stop``.
    """

    quality: float
    generation_macs: float
    constraint: float
    decision: Decision


def dominates(a: RungPoint, b: RungPoint, lower_is_better: bool) -> bool:
    """Whether ``a`` dominates ``b``: feasible first, then the smaller excess, then Pareto on (quality, MACs)."""
    if (a.constraint <= 0) != (b.constraint <= 0):
        return a.constraint <= 0
    if a.constraint > 0:
        return a.constraint < b.constraint
    sign = 1.0 if lower_is_better else -1.0
    qa, qb = sign * a.quality, sign * b.quality
    return qa <= qb and a.generation_macs <= b.generation_macs and (qa < qb or a.generation_macs < b.generation_macs)


def rung_metrics(rung: int, quality: float, generation_macs: float, constraint: float) -> dict[str, float]:
    """The keys a trial reports at rung ``rung`` (what :class:`MOSuccessiveHalving` reads)."""
    return {RUNG_KEY: rung, RUNG_QUALITY: quality, RUNG_MACS: generation_macs, RUNG_CONSTRAINT: constraint}


class MOSuccessiveHalving(FIFOScheduler):
    """Stops a trial at a rung when another trial recorded at that rung dominates it.

    Args:
        run_dir: the search run directory (``rungs.json`` and the trials' records).
        lower_is_better: whether a lower quality value is better (FID).
    """

    def __init__(self, run_dir: str, lower_is_better: bool) -> None:
        super().__init__()
        self._layout = SearchRunDir(run_dir)
        self._lower_is_better = lower_is_better
        self._rungs: dict[int, dict[str, RungPoint]] | None = None

    @property
    def rungs(self) -> dict[int, dict[str, RungPoint]]:
        """Points by rung index, then trial id (read from ``rungs.json`` on first use)."""
        if self._rungs is None:
            self._rungs = _read_rungs(self._layout)
        return self._rungs

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        if RUNG_KEY not in result:
            return TrialScheduler.CONTINUE
        rung = self.rungs.setdefault(int(result[RUNG_KEY]), {})
        point = rung.get(trial.trial_id)
        if point is None:  # a decision already taken (before a resume) stands
            candidate = RungPoint(
                float(result[RUNG_QUALITY]), float(result[RUNG_MACS]), float(result[RUNG_CONSTRAINT]), "continue"
            )
            beaten = any(dominates(other, candidate, self._lower_is_better) for other in rung.values())
            point = RungPoint(**{**asdict(candidate), "decision": "stop" if beaten else "continue"})
            rung[trial.trial_id] = point
            _write_rungs(self._layout, self.rungs)
        if point.decision == "continue":
            return TrialScheduler.CONTINUE
        self._record_stop(trial.trial_id, int(result[RUNG_KEY]), result)
        return TrialScheduler.STOP

    def _record_stop(self, trial_id: str, rung: int, result: Mapping[str, Any]) -> None:
        """Mark the trial's record ``stopped``, with the rung's results as its metrics."""
        record = self._layout.read_record(trial_id)
        if record.status == "stopped":
            return
        partial = {key: float(value) for key, value in result.items() if key.startswith("rung") or key == "step"}
        record.status, record.finished_at = "stopped", time.time()
        record.metrics = TrialMetrics(**partial)
        record.feasible = float(result[RUNG_CONSTRAINT]) <= 0
        record.error = f"stopped at rung {rung} (step {int(result.get('step', 0))}): dominated by another trial there"
        self._layout.write_record(record)

    def debug_string(self) -> str:
        counts = {rung: sum(p.decision == "stop" for p in points.values()) for rung, points in self.rungs.items()}
        return f"MO successive halving: stopped per rung {counts}"


def _read_rungs(layout: SearchRunDir) -> dict[int, dict[str, RungPoint]]:
    if not layout.rungs_file.is_file():
        return {}
    data = read_json(layout.rungs_file)
    return {int(rung): {trial: RungPoint(**point) for trial, point in points.items()} for rung, points in data.items()}


def _write_rungs(layout: SearchRunDir, rungs: dict[int, dict[str, RungPoint]]) -> None:
    data = {str(rung): {trial: asdict(point) for trial, point in points.items()} for rung, points in rungs.items()}
    atomic_write_text(layout.rungs_file, json.dumps(data, indent=2))
