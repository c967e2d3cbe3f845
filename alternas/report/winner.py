"""Winner rules: which trial a search ships, chosen by the recipe's ``report.winner``.

A rule looks at the eligible trials (finished, scored, feasible) and the Pareto front, and either
names a winner with the reason, or says why no trial meets it; the rule's fallback then picks one
and the report says so. With a step-count baseline, only trials beyond it compete; when none is,
the report says so and names the dense step count to run instead. Add a rule by subclassing
:class:`WinnerRule` and registering it in :data:`WINNER_RULES`.
"""

from __future__ import annotations

import statistics
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from ..config import ReportConfig
from ..exceptions import ConfigError
from ..macs import format_macs
from ..metrics import METRIC_SPECS, lower_is_better, metric_spec
from ..pareto import knee_index, trial_front
from .dense_front import Baseline
from .formatting import format_interval
from .trial_entries import TrialEntry
from .uncertainty import ConfirmedConfiguration, lies_beyond

__all__ = [
    "WinnerChoice",
    "WinnerRule",
    "FewestMacsWithinQuality",
    "BestQualityUnderMacs",
    "KneeOfFront",
    "WINNER_RULES",
    "choose_winner",
    "rank_candidates",
]


@dataclass
class WinnerChoice:
    """The trial a report recommends.

    Attributes:
        trial_id: the winner (``None`` when no trial is eligible at all).
        rule: the rule's name (``report.winner``).
        qualified: whether the winner meets the rule (``False``: chosen by the rule's fallback).
        message: one sentence for the user: who won and why, or why nothing qualified.
        dense_steps: when no trial lies beyond the step-count baseline, the dense sampler step count
            to run instead (``None`` otherwise).
        dense_sampler: with ``dense_steps``, the sampler to run the dense model with.
        confirmed: whether the choice was made on confirmed configurations (their means over new seeds).
        shipped_run: with ``confirmed``, the confirmation run whose weights an export ships: the one whose
            quality is nearest the configuration's confirmed mean.
    """

    trial_id: str | None
    rule: str
    qualified: bool
    message: str
    dense_steps: int | None = None
    dense_sampler: str | None = None
    confirmed: bool = False
    shipped_run: str | None = None


class WinnerRule(ABC):
    """Picks the trial to ship.

    Args:
        config: the report section (quality metric, tolerance, budget).
    """

    name: ClassVar[str] = ""

    def __init__(self, config: ReportConfig) -> None:
        self.config = config
        self.metric = config.quality_metric
        self.lower_is_better = lower_is_better(config.quality_metric)

    @abstractmethod
    def select(
        self, candidates: Sequence[TrialEntry], front: Sequence[TrialEntry]
    ) -> tuple[TrialEntry | None, str]:
        """The winner among ``candidates`` (eligible trials) and why; ``(None, reason)`` if none qualifies."""

    def fallback(
        self, candidates: Sequence[TrialEntry], front: Sequence[TrialEntry]
    ) -> tuple[TrialEntry, str]:
        """The pick when no trial meets the rule: the best quality on the front."""
        best = min(front, key=self.quality_rank)
        return best, f"the front trial with the best {self.metric}"

    def quality_rank(self, entry: TrialEntry) -> tuple[float, float]:
        """Sort key: better quality first, then fewer MACs."""
        quality = entry.quality if self.lower_is_better else -entry.quality
        return (quality, entry.macs)

    def describe(self, entry: TrialEntry) -> str:
        """``"trial 3 (fid 31.2, 44.9 MMACs = 5.6 dense steps)"``."""
        steps = entry.dense_steps
        steps_text = f" = {steps:.1f} dense steps" if steps is not None else ""
        return f"trial {entry.trial_id} ({self.metric} {entry.quality:.4g}, {format_macs(entry.macs)}{steps_text})"


class FewestMacsWithinQuality(WinnerRule):
    """Fewest generation MACs among trials whose quality is within ``quality_tolerance`` of the teacher's.

    The teacher is the one evaluated with the trial (same sampler and steps). For FID the bound is
    ``teacher * (1 + tolerance)``; for higher-is-better metrics ``teacher * (1 - tolerance)``.
    """

    name = "fewest_macs_within_quality"

    def __init__(self, config: ReportConfig) -> None:
        super().__init__(config)
        if not metric_spec(config.quality_metric).has_teacher_value:
            usable = ", ".join(name for name, spec in METRIC_SPECS.items() if spec.has_teacher_value)
            raise ConfigError(
                "`report.winner: fewest_macs_within_quality` needs a teacher value of the quality metric, "
                f"but `report.quality_metric: {config.quality_metric}` is measured against the teacher (its "
                f"own value is unbounded); use one of {usable}, or another winner rule"
            )

    def bound(self, entry: TrialEntry) -> float | None:
        """The worst quality that still qualifies for ``entry``'s teacher."""
        teacher = entry.metrics.teacher_quality(self.metric)
        if teacher is None:
            return None
        tolerance = self.config.quality_tolerance
        return teacher * (1 + tolerance) if self.lower_is_better else teacher * (1 - tolerance)

    def qualifies(self, entry: TrialEntry) -> bool:
        """Within the tolerance of the teacher with the report's confidence: the far end of the paired
        interval against the teacher (same noise) stays within it; the point estimate when there is no
        interval."""
        bound = self.bound(entry)
        if bound is None:
            return False
        teacher = entry.metrics.teacher_quality(self.metric)
        difference = entry.versus_teacher
        if difference is not None and teacher is not None:
            worst = teacher + (difference.high if self.lower_is_better else difference.low)
        else:
            worst = entry.quality
        return worst <= bound if self.lower_is_better else worst >= bound

    def select(
        self, candidates: Sequence[TrialEntry], front: Sequence[TrialEntry]
    ) -> tuple[TrialEntry | None, str]:
        percent = f"{self.config.quality_tolerance:.0%}"
        qualified = [entry for entry in candidates if self.qualifies(entry)]
        if qualified:
            best = min(qualified, key=lambda e: (e.macs, self.quality_rank(e)))
            teacher = best.metrics.teacher_quality(self.metric)
            return best, (
                f"{self.describe(best)} has the fewest MACs among the {len(qualified)} trial(s) whose "
                f"{self.metric} is within {percent} of the teacher's ({teacher:.4g})"
            )
        closest = min(candidates, key=self.quality_rank)
        teacher = closest.metrics.teacher_quality(self.metric)
        teacher_text = "unknown" if teacher is None else f"{teacher:.4g}"
        return None, (
            f"no feasible trial has {self.metric} within {percent} of the teacher's "
            f"(closest: {self.describe(closest)} vs teacher {teacher_text})"
        )


class BestQualityUnderMacs(WinnerRule):
    """Best quality among trials whose generation MACs are at most ``macs_budget_share`` of the teacher's."""

    name = "best_quality_under_macs"

    def __init__(self, config: ReportConfig) -> None:
        super().__init__(config)
        if config.macs_budget_share is None:
            raise ConfigError(
                "`report.winner: best_quality_under_macs` needs `report.macs_budget_share` (the cap on "
                "total generation MACs as a share of the dense teacher's, e.g. 0.6)"
            )
        self.budget = config.macs_budget_share

    def within_budget(self, entry: TrialEntry) -> bool:
        teacher = entry.metrics.teacher_generation_macs
        return isinstance(teacher, (int, float)) and entry.macs <= self.budget * teacher

    def select(
        self, candidates: Sequence[TrialEntry], front: Sequence[TrialEntry]
    ) -> tuple[TrialEntry | None, str]:
        affordable = [entry for entry in candidates if self.within_budget(entry)]
        if affordable:
            best = min(affordable, key=self.quality_rank)
            return best, (
                f"{self.describe(best)} has the best {self.metric} among the {len(affordable)} trial(s) "
                f"using at most {self.budget:.2f}x the teacher's generation MACs"
            )
        cheapest = min(candidates, key=lambda e: e.macs)
        return None, (
            f"no feasible trial uses at most {self.budget:.2f}x the teacher's generation MACs "
            f"(cheapest: {self.describe(cheapest)})"
        )

    def fallback(
        self, candidates: Sequence[TrialEntry], front: Sequence[TrialEntry]
    ) -> tuple[TrialEntry, str]:
        """The front trial with the fewest MACs (the closest to the budget)."""
        return (
            min(front, key=lambda e: (e.macs, self.quality_rank(e))),
            "the front trial with the fewest MACs",
        )


class KneeOfFront(WinnerRule):
    """The front point farthest from the line joining the front's ends (both axes normalised)."""

    name = "knee"

    def select(
        self, candidates: Sequence[TrialEntry], front: Sequence[TrialEntry]
    ) -> tuple[TrialEntry | None, str]:
        index = knee_index([e.macs for e in front], [e.quality for e in front], self.lower_is_better)
        if index is None:
            return (
                None,
                f"the front has {len(front)} point(s) and no knee (a knee needs 3 non-collinear points)",
            )
        knee = front[index]
        return (
            knee,
            f"{self.describe(knee)} is the knee of the {len(front)}-point front of {self.metric} vs MACs",
        )


#: winner rules by their ``report.winner`` name
WINNER_RULES: dict[str, type[WinnerRule]] = {
    rule.name: rule for rule in (FewestMacsWithinQuality, BestQualityUnderMacs, KneeOfFront)
}


def choose_winner(
    config: ReportConfig,
    candidates: Sequence[TrialEntry],
    front: Sequence[TrialEntry],
    baseline: Baseline | None = None,
    confirmed: Mapping[str, ConfirmedConfiguration] | None = None,
) -> WinnerChoice:
    """Apply ``config.winner`` (and its fallback when no trial qualifies).

    With a ``baseline``, only trials beyond it (``TrialEntry.beyond_baseline``: beyond with the report's
    confidence where intervals exist) compete; when no candidate is, the rule's pick among all of them is
    kept (so it can still be exported) but not qualified, and the message names the dense step count to
    run instead. With ``confirmed`` configurations, only they compete, each with its confirmed numbers
    (the mean over its new seeds, and intervals over seeds).

    Args:
        config: the report section.
        candidates: eligible trials (finished, scored, feasible).
        front: the Pareto front among ``candidates``, sorted by MACs.
        baseline: the dense step-count baseline, or ``None``.
        confirmed: the confirmed configurations by search trial id (``None`` or empty: none ran).
    """
    rule = WINNER_RULES[config.winner](config)
    if not candidates:
        return WinnerChoice(
            trial_id=None,
            rule=rule.name,
            qualified=False,
            message="no finished trial is feasible and scored, so there is no winner; "
            "pick one with `alternas export RUN_DIR --trial ID`",
        )
    if confirmed:
        by_id = {entry.trial_id: entry for entry in candidates}
        configurations = [
            _confirmed_entry(by_id[trial_id], c, baseline, rule) for trial_id, c in confirmed.items() if trial_id in by_id
        ]
        if configurations:
            ordered = sorted(configurations, key=lambda e: e.macs)
            choice = _choose(rule, configurations, trial_front(ordered, lambda e: e.quality, lambda e: e.macs,
                                                               rule.lower_is_better), baseline)
            runs = confirmed[choice.trial_id]
            choice.confirmed, choice.shipped_run = True, runs.shipped.trial_id
            choice.message = (
                f"{choice.message} (confirmed on {len(runs.runs)} new seeds; an export ships run "
                f"{runs.shipped.trial_id}, the one nearest the mean)"
            )
            return choice
    return _choose(rule, candidates, front, baseline)


def _confirmed_entry(
    entry: TrialEntry, confirmed: ConfirmedConfiguration, baseline: Baseline | None, rule: WinnerRule
) -> TrialEntry:
    """A search trial as its confirmed configuration: the mean quality and MACs of its confirmation runs,
    their intervals, and where that stands against the baseline."""
    macs = statistics.fmean(run.macs for run in confirmed.runs)
    quality = confirmed.quality.value
    configuration = replace(
        entry, quality=quality, macs=macs, interval=confirmed.quality, versus_dense=confirmed.versus_dense,
        versus_teacher=confirmed.versus_teacher, seed=None,
    )
    if baseline is not None:
        configuration.dominated_by = baseline.dominator(macs, quality, rule.metric, rule.lower_is_better)
        configuration.beyond_baseline = lies_beyond(
            configuration.dominated_by is not None, confirmed.versus_dense, rule.lower_is_better
        )
    return configuration


def _choose(
    rule: WinnerRule, candidates: Sequence[TrialEntry], front: Sequence[TrialEntry], baseline: Baseline | None
) -> WinnerChoice:
    """The rule applied to ``candidates`` (non-empty), only those beyond the baseline competing."""
    beyond = [entry for entry in candidates if entry.beyond_baseline is not False]
    if baseline is not None and not beyond:
        pick = _pick(rule, candidates, front)
        dense = pick.dominated_by or pick.compared_with
        instead = (
            f"run the dense model with {dense.sampler} at {dense.steps} steps instead "
            f"({baseline.summary(dense, rule.metric)})"
        )
        if pick.dominated_by is not None:
            message = (
                f"No trial beats the dense step-count baseline: {instead}, which is at least as good as the "
                f"rule's pick {rule.describe(pick)} for no more MACs."
            )
        else:
            message = (
                f"No trial beats the dense step-count baseline beyond the noise: {instead}; the rule's pick "
                f"{rule.describe(pick)} is no cheaper and its paired difference with it, "
                f"{format_interval(pick.versus_dense, signed=True)}, includes 0."
            )
        return WinnerChoice(pick.trial_id, rule.name, False, message, dense_steps=dense.steps, dense_sampler=dense.sampler)
    beyond_ids = {entry.trial_id for entry in beyond}
    candidates, front = beyond, [entry for entry in front if entry.trial_id in beyond_ids]
    if not front:  # the beyond trials' own front (the search's front may be all within noise)
        front = trial_front(sorted(beyond, key=lambda e: e.macs), lambda e: e.quality, lambda e: e.macs,
                            rule.lower_is_better)
    winner, reason = rule.select(candidates, front)
    where = "; it lies beyond the dense step-count baseline" if baseline is not None else ""
    if winner is not None:
        return WinnerChoice(winner.trial_id, rule.name, True, f"winner: {reason}{where}")
    fallback, how = rule.fallback(candidates, front)
    return WinnerChoice(
        fallback.trial_id,
        rule.name,
        False,
        f"{reason}; falling back to {how}: {rule.describe(fallback)}{where}",
    )


def rank_candidates(config: ReportConfig, candidates: Sequence[TrialEntry], count: int) -> list[TrialEntry]:
    """The winner rule's best ``count`` trials among ``candidates``, best first: its pick (or its fallback's),
    then its pick among the rest, and so on."""
    rule = WINNER_RULES[config.winner](config)
    left, ranked = list(candidates), []
    while left and len(ranked) < count:
        front = trial_front(left, lambda e: e.quality, lambda e: e.macs, rule.lower_is_better)
        pick = _pick(rule, left, front)
        ranked.append(pick)
        left = [entry for entry in left if entry is not pick]
    return ranked


def _pick(rule: WinnerRule, candidates: Sequence[TrialEntry], front: Sequence[TrialEntry]) -> TrialEntry:
    """The rule's pick: its winner, or its fallback's when no trial meets it."""
    winner, _ = rule.select(candidates, front)
    return winner if winner is not None else rule.fallback(candidates, front)[0]
