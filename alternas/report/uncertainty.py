"""Intervals on the numbers a report judges.

* Each trial's and each dense point's quality: an interval over the evaluation noise, from each image's
  influence on the metric (:func:`alternas.quality.interval`).
* A trial against the dense point it must beat, and against its own teacher: *paired* intervals (the
  same evaluation noise and conditions; :func:`alternas.quality.paired_interval`), so the noise both
  share cancels.
* A confirmed configuration (the same configuration retrained with new seeds): the mean over its
  confirmation runs with an interval whose seed part is Student t on the seed-to-seed variance pooled
  over every confirmed configuration, combined in quadrature with the evaluation noise of their mean (the runs' influences, averaged
  image by image).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import torch

from ..quality import Interval, SampleScores, interval, paired_interval, read_scores, standard_error
from ..quality.scores import z_value
from ..rundir import RUN_FILES
from .trial_entries import TrialEntry

__all__ = [
    "ConfirmedConfiguration",
    "TrialScores",
    "confirm_configurations",
    "lies_beyond",
    "wholly_better",
    "student_t_quantile",
    "trial_intervals",
]


@dataclass
class TrialScores:
    """A trial's per-image scores (its ``quality_scores.pt``): its experts' and its teacher's."""

    experts: dict[str, SampleScores] = field(default_factory=dict)
    teacher: dict[str, SampleScores] = field(default_factory=dict)

    @classmethod
    def read(cls, entry: TrialEntry) -> TrialScores:
        """The entry's scores; empty when the trial has none (written before per-image scores, or damaged)."""
        stored = read_scores(entry.directory / RUN_FILES["scores"]) or {}
        return cls(stored.get("experts", {}), stored.get("teacher", {}))


@dataclass
class ConfirmedConfiguration:
    """One search trial's configuration, retrained with new seeds.

    Attributes:
        trial_id: the search trial whose configuration was retrained.
        runs: its finished confirmation runs.
        quality: the mean quality over ``runs`` with its interval.
        versus_dense: the mean paired difference (run minus dense) against the dense point the search trial
            is compared with, with its interval (``None`` without a baseline or per-image scores).
        versus_teacher: the same against the runs' own dense teacher (same sampler and steps).
        shipped: the run whose quality is nearest ``quality.value``: the weights an export ships.
    """

    trial_id: str
    runs: list[TrialEntry]
    quality: Interval
    versus_dense: Interval | None
    versus_teacher: Interval | None
    shipped: TrialEntry


def wholly_better(difference: Interval, lower_is_better: bool) -> bool:
    """Whether a paired difference (model minus dense) lies wholly on the better side of 0."""
    return difference.high < 0 if lower_is_better else difference.low > 0


def lies_beyond(dominated: bool, difference: Interval | None, lower_is_better: bool) -> bool:
    """The verdict against the dense baseline: not ``dominated`` by a dense point, and the paired
    ``difference`` with the best dense point at no more MACs wholly better (with no difference, because no
    dense point is that cheap or there are no per-image scores: the point estimates decide)."""
    if dominated:
        return False
    return difference is None or wholly_better(difference, lower_is_better)


@cache
def student_t_quantile(confidence: float, dof: int) -> float:
    """The two-sided Student t quantile, e.g. 12.71 for 0.95 with 1 degree of freedom (bisection on the
    distribution function, integrated with Simpson's rule)."""
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)

    def density(t: float) -> float:
        return math.exp(log_norm - (dof + 1) / 2 * math.log1p(t * t / dof))

    def mass(x: float, steps: int = 2000) -> float:  # P(0 < T < x)
        h = x / steps
        inner = sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
        return h / 3 * (density(0.0) + inner + density(x))

    low, high = 0.0, 1000.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if mass(middle) < confidence / 2 else (low, middle)
    return (low + high) / 2


def _mean_over_runs(
    runs: Sequence[SampleScores], subtract: SampleScores | Sequence[SampleScores] | None
) -> tuple[float, list[float], float]:
    """Per-run values (minus ``subtract`` on the same images), their mean, and the evaluation-noise standard
    error of that mean (the runs' influences averaged image by image)."""
    others = [subtract] * len(runs) if isinstance(subtract, SampleScores) or subtract is None else list(subtract)
    per_run = [run.value() - (other.value() if other is not None else 0.0) for run, other in zip(runs, others)]
    influence = torch.stack(
        [run.influence() - (other.influence() if other is not None else 0.0) for run, other in zip(runs, others)]
    ).mean(0)
    return statistics.fmean(per_run), per_run, standard_error(influence, runs[0].strata)


def confirm_configurations(
    groups: dict[str, list[TrialEntry]],
    metric: str,
    dense: dict[str, SampleScores | None],
    confidence: float,
) -> dict[str, ConfirmedConfiguration]:
    """Confirmed numbers of each configuration from its confirmation runs.

    Args:
        groups: search trial id -> its finished, scored confirmation runs.
        metric: the report's quality metric.
        dense: search trial id -> per-image scores of the dense point it is compared with (``None``: none).
        confidence: the intervals' coverage.

    Returns:
        The configurations with at least one run. With two or more runs somewhere, the seed-to-seed
        spread is the pooled sd over every configuration with two or more (degrees of freedom
        ``sum(n - 1)``); a configuration's interval's half-width combines ``t * pooled / sqrt(n)`` (the
        seeds, Student t) and ``z * eval_sd`` (the evaluation noise of the mean, normal) in quadrature; its
        ``sd`` is ``sqrt(pooled^2 / n + eval_sd^2)``.
    """
    scored = {tid: runs for tid, runs in groups.items() if runs}
    measured: dict[str, dict[str, tuple[float, list[float], float] | None]] = {}
    for trial_id, runs in scored.items():
        scores = [TrialScores.read(run) for run in runs]
        experts = [s.experts.get(metric) for s in scores]
        teachers = [s.teacher.get(metric) for s in scores]
        have = all(e is not None for e in experts)
        qualities = [run.quality for run in runs]
        if have:
            mean, _, eval_sd = _mean_over_runs(experts, None)
            measured[trial_id] = {"quality": (mean, qualities, eval_sd)}
        else:
            measured[trial_id] = {"quality": (statistics.fmean(qualities), qualities, 0.0)}
        reference = dense.get(trial_id)
        measured[trial_id]["dense"] = _mean_over_runs(experts, reference) if have and reference else None
        measured[trial_id]["teacher"] = (
            _mean_over_runs(experts, teachers) if have and all(t is not None for t in teachers) else None
        )

    def pooled(kind: str) -> tuple[float, int]:
        squares, dof = 0.0, 0
        for numbers in measured.values():
            found = numbers[kind]
            if found is not None and len(found[1]) > 1:
                squares += statistics.variance(found[1]) * (len(found[1]) - 1)
                dof += len(found[1]) - 1
        return (math.sqrt(squares / dof) if dof else 0.0), dof

    spreads = {kind: pooled(kind) for kind in ("quality", "dense", "teacher")}

    def make(kind: str, found: tuple[float, list[float], float] | None) -> Interval | None:
        if found is None:
            return None
        mean, per_run, eval_sd = found
        spread, dof = spreads[kind]
        seeds_half = (student_t_quantile(confidence, dof) if dof else math.inf) * spread / math.sqrt(len(per_run))
        half = math.hypot(seeds_half, z_value(confidence) * eval_sd)
        return Interval(mean, mean - half, mean + half, math.hypot(spread / math.sqrt(len(per_run)), eval_sd), confidence)

    confirmed = {}
    for trial_id, runs in scored.items():
        quality = make("quality", measured[trial_id]["quality"])
        confirmed[trial_id] = ConfirmedConfiguration(
            trial_id=trial_id,
            runs=runs,
            quality=quality,
            versus_dense=make("dense", measured[trial_id]["dense"]),
            versus_teacher=make("teacher", measured[trial_id]["teacher"]),
            shipped=min(runs, key=lambda run: (abs(run.quality - quality.value), run.trial_id)),
        )
    return confirmed


def trial_intervals(
    entry: TrialEntry, scores: TrialScores, metric: str, dense: SampleScores | None, confidence: float
) -> tuple[Interval | None, Interval | None, Interval | None]:
    """``(quality, versus_dense, versus_teacher)`` of one trial (``None`` where its scores lack the metric)."""
    own = scores.experts.get(metric)
    if own is None:
        return None, None, None
    teacher = scores.teacher.get(metric)
    return (
        interval(own, confidence),
        paired_interval(own, dense, confidence) if dense is not None and len(dense) == len(own) else None,
        paired_interval(own, teacher, confidence) if teacher is not None else None,
    )
