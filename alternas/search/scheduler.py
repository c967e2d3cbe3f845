"""Multi-objective successive halving (``search.scheduler: mo_asha``) as a Ray Tune trial scheduler.

After MO-ASHA (Schmucker et al., 2021), asynchronous like ASHA: a trial reaching a rung (a share of
``train.steps``, ``search.rungs``) reports a cheap evaluation (``search.rung_samples`` samples of the
evaluation noise) and is ranked against every trial recorded at that rung, itself included. The order
is non-dominated sorting on (quality, total MACs), then the NSGA-II crowding distance within a front
(larger first), then arrival at the rung (earlier first). Of the ``n`` trials there, the first
``ceil(n / eta)`` are kept (``eta`` = ``search.reduction_factor``); a trial outside them stops. While
the rung holds at most ``eta`` trials, too few to split a front, a trial stops only when at least
``ceil(n / eta)`` trials lie on earlier fronts than its own. Decisions already taken stand.

A rung scores the trial's hard table settled onto its budget (what it would export if stopped there,
:meth:`~alternas.trainer.AlterTrainer.settled_keep`). A trial is never judged on feasibility at a rung:
its MACs there count as ``min(measured, budget)``, the generation MACs it is trained towards.
Feasibility is judged once, on the trial's final evaluation.

A stopped trial keeps its partial results: its ``trial.json`` says ``stopped`` and holds the rung's
metrics. Every decision is written atomically to ``<run dir>/rungs.json`` before it is acted on, so a
resumed search compares against the same points and repeats a decision it already took.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from .._atomic import atomic_write_text
from .._readers import read_json
from ..metrics import TrialMetrics
from ..pareto import dominates as pareto_dominates
from ..rundir import SearchRunDir

__all__ = [
    "RUNG_KEY",
    "RungPoint",
    "MOSuccessiveHalving",
    "dominates",
    "nondominated_fronts",
    "rung_decision",
    "rung_metrics",
    "rung_order",
]

#: result key of a rung report: the rung's index (0 = first rung)
RUNG_KEY = "rung"
#: result keys of a rung report's evaluation
RUNG_QUALITY, RUNG_MACS, RUNG_BUDGET, RUNG_CONSTRAINT = (
    "rung_quality",
    "rung_generation_macs",
    "rung_budget_generation_macs",
    "rung_budget_constraint",
)

Decision = Literal["continue", "stop"]


@dataclass(frozen=True)
class RungPoint:
    """One trial's evaluation at a rung and what was decided.

    Attributes:
        quality: the quality metric on the rung's samples (the sign as measured).
        generation_macs: measured MACs of generating one sample.
        constraint: budget excess minus the tolerance (feasible when <= 0); recorded, not judged.
        decision: ``continue`` or ``stop``.
        budget_macs: the trial's generation MACs budget (``inf`` in run dirs written before it was recorded).
    """

    quality: float
    generation_macs: float
    constraint: float
    decision: Decision
    budget_macs: float = math.inf

    @property
    def macs(self) -> float:
        """Generation MACs the point is ranked by: the measured ones, at most the budget trained towards."""
        return min(self.generation_macs, self.budget_macs)


def dominates(a: RungPoint, b: RungPoint, lower_is_better: bool) -> bool:
    """Whether ``a`` dominates ``b`` on quality and :attr:`RungPoint.macs` (feasibility is not judged at a rung)."""
    return pareto_dominates(a.macs, a.quality, b.macs, b.quality, lower_is_better)


def nondominated_fronts(points: Mapping[str, RungPoint], lower_is_better: bool) -> list[list[str]]:
    """Non-dominated sorting: trial ids by front (the first: points no other dominates), each in arrival order."""
    fronts, remaining = [], list(points)
    while remaining:
        front = [t for t in remaining if not any(dominates(points[o], points[t], lower_is_better) for o in remaining)]
        fronts.append(front)
        remaining = [t for t in remaining if t not in front]
    return fronts


def _crowding_distances(points: list[RungPoint], lower_is_better: bool) -> list[float]:
    """NSGA-II crowding distance of each point of one front on (quality, MACs), each axis scaled by its span."""
    sign = 1.0 if lower_is_better else -1.0
    distances = [0.0] * len(points)
    for axis in (lambda p: sign * p.quality, lambda p: p.macs):
        order = sorted(range(len(points)), key=lambda i: axis(points[i]))
        distances[order[0]] = distances[order[-1]] = math.inf
        span = axis(points[order[-1]]) - axis(points[order[0]])
        for before, middle, after in zip(order, order[1:], order[2:]):
            if span > 0:
                distances[middle] += (axis(points[after]) - axis(points[before])) / span
    return distances


def rung_order(points: Mapping[str, RungPoint], lower_is_better: bool) -> list[str]:
    """Trial ids best first: by front, then crowding distance (larger first), then arrival order."""
    order: list[str] = []
    for front in nondominated_fronts(points, lower_is_better):
        distances = _crowding_distances([points[t] for t in front], lower_is_better)
        order += [front[i] for i in sorted(range(len(front)), key=lambda i: -distances[i])]  # stable: arrival
    return order


def rung_decision(
    points: Mapping[str, RungPoint], trial_id: str, reduction_factor: int, lower_is_better: bool
) -> Decision:
    """Whether ``trial_id``, the latest arrival among ``points`` (every trial at the rung), is kept.

    Args:
        points: the rung's points by trial id in arrival order, ``trial_id``'s included.
        trial_id: the trial to decide on.
        reduction_factor: ``eta``: the best ``ceil(n / eta)`` of the ``n`` points are kept.
        lower_is_better: the direction of the quality (``True`` for FID).
    """
    kept = math.ceil(len(points) / reduction_factor)
    fronts = nondominated_fronts(points, lower_is_better)
    own = next(index for index, front in enumerate(fronts) if trial_id in front)
    if sum(len(front) for front in fronts[:own]) >= kept:
        return "stop"  # clearly outside: enough trials on better fronts
    if len(points) <= reduction_factor:
        return "continue"  # too few arrivals to break a tie within a front
    return "continue" if rung_order(points, lower_is_better).index(trial_id) < kept else "stop"


def rung_metrics(
    rung: int, quality: float, generation_macs: float, budget_macs: float, constraint: float
) -> dict[str, float]:
    """The keys a trial reports at rung ``rung`` (what :class:`MOSuccessiveHalving` reads)."""
    return {
        RUNG_KEY: rung,
        RUNG_QUALITY: quality,
        RUNG_MACS: generation_macs,
        RUNG_BUDGET: budget_macs,
        RUNG_CONSTRAINT: constraint,
    }


class MOSuccessiveHalving(FIFOScheduler):
    """Stops a trial at a rung when it falls outside the best ``1 / reduction_factor`` of the trials there.

    Args:
        run_dir: the search run directory (``rungs.json`` and the trials' records).
        lower_is_better: whether a lower quality value is better (FID).
        reduction_factor: ``eta`` (``search.reduction_factor``): the share ``1 / eta`` of a rung's trials kept.
    """

    def __init__(self, run_dir: str, lower_is_better: bool, reduction_factor: int) -> None:
        super().__init__()
        self._layout = SearchRunDir(run_dir)
        self._lower_is_better = lower_is_better
        self._reduction_factor = reduction_factor
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
            rung[trial.trial_id] = RungPoint(
                quality=float(result[RUNG_QUALITY]),
                generation_macs=float(result[RUNG_MACS]),
                constraint=float(result[RUNG_CONSTRAINT]),
                decision="continue",
                budget_macs=float(result[RUNG_BUDGET]),
            )
            decision = rung_decision(rung, trial.trial_id, self._reduction_factor, self._lower_is_better)
            point = rung[trial.trial_id] = replace(rung[trial.trial_id], decision=decision)
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
        record.feasible = float(result[RUNG_CONSTRAINT]) <= 0  # at the rung, as the report's rung table shows
        kept = math.ceil(len(self.rungs[rung]) / self._reduction_factor)
        record.error = (
            f"stopped at rung {rung} (step {int(result.get('step', 0))}): outside the best {kept} of the "
            f"{len(self.rungs[rung])} trials there (search.reduction_factor {self._reduction_factor})"
        )
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
