"""What a search optimises: a quality metric and the total generation MACs, under a MACs budget.

A finished trial is *feasible* when its measured generation MACs exceed its budget by at most
``search.budget_tolerance`` (a share). Infeasible trials never reach the Pareto front: the sampler
is told through an Optuna constraint, and :meth:`Objectives.front` leaves them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..metrics import TrialMetrics, lower_is_better
from ..pareto import trial_front
from ..recipe import Recipe
from ..rundir import TrialRecord

__all__ = ["Objectives", "MACS_METRIC", "OVER_BUDGET_METRIC", "BUDGET_METRIC", "CONSTRAINT_METRIC"]

#: measured MACs of generating one sample (all sampler steps, x2 with guidance); lower is better
MACS_METRIC = "generation_macs"
#: relative excess of a trial's generation MACs over its budget (0.05 = 5% over; negative = under)
OVER_BUDGET_METRIC = "macs_over_budget"
#: the trial's generation MACs budget (budget share x the dense teacher's generation MACs)
BUDGET_METRIC = "budget_generation_macs"
#: the Optuna constraint: ``macs_over_budget - tolerance``; the trial is feasible when it is <= 0
CONSTRAINT_METRIC = "budget_constraint"


@dataclass(frozen=True)
class Objectives:
    """The two objectives and the budget constraint of a search.

    Args:
        quality_metric: the quality metric (``fid``: lower is better; others: higher).
        tolerance: allowed relative excess of generation MACs over the budget.
    """

    quality_metric: str
    tolerance: float

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> Objectives:
        """The objectives a recipe names (``report.quality_metric``, ``search.budget_tolerance``)."""
        return cls(recipe.report.quality_metric, recipe.search.budget_tolerance)

    @property
    def lower_is_better(self) -> bool:
        """Whether a lower quality value is better."""
        return lower_is_better(self.quality_metric)

    @property
    def metrics(self) -> list[str]:
        """Result keys of the objectives: ``[quality_metric, "generation_macs"]``."""
        return [self.quality_metric, MACS_METRIC]

    @property
    def modes(self) -> list[str]:
        """Tune modes of :attr:`metrics` (``min`` / ``max``)."""
        return ["min" if self.lower_is_better else "max", "min"]

    def with_budget(self, metrics: TrialMetrics, budget_share: float) -> TrialMetrics:
        """A trial's metrics with its budget, its excess over it, and the Optuna constraint value.

        Args:
            metrics: the trial's metrics (``generation_macs`` and ``teacher_generation_macs``).
            budget_share: MACs per sampler step the budget allows, as a share of dense.

        Returns:
            a copy of ``metrics`` with ``budget_generation_macs``, ``macs_over_budget`` and
            ``budget_constraint`` (feasible when <= 0).
        """
        budget = budget_share * metrics.teacher_generation_macs
        over = metrics.generation_macs / budget - 1.0
        return metrics.model_copy(
            update={BUDGET_METRIC: budget, OVER_BUDGET_METRIC: over, CONSTRAINT_METRIC: over - self.tolerance}
        )

    def front(self, records: Sequence[TrialRecord]) -> list[TrialRecord]:
        """The trials on the quality-vs-generation-MACs front (:func:`~alternas.pareto.trial_front`), by
        increasing MACs."""
        return trial_front(
            records, lambda r: r.metrics.quality(self.quality_metric), lambda r: r.metrics.generation_macs,
            self.lower_is_better,
        )
