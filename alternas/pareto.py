"""Pareto fronts of cost against quality, which trials may stand on one, and the knee of a front.

:func:`trial_front` is the one definition of a search's front, used by the search (``search.json``),
its live display and the report (``frontier.json``): a trial is *eligible* when it finished, was not
judged infeasible under the MACs constraints and has a finite quality and cost; infeasible trials
never reach the front, whatever their numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

__all__ = ["Judged", "dominates", "eligible", "pareto_front", "trial_front", "knee_index"]


class Judged(Protocol):
    """What :func:`eligible` reads of a trial besides its two numbers."""

    status: str  # ``finished``, ``failed``, ``running``, ...
    feasible: bool | None  # ``None``: not judged, counted as feasible


_Trial = TypeVar("_Trial", bound=Judged)


def eligible(trial: Judged, quality: Any, cost: Any) -> bool:
    """Whether a trial may stand on a front: finished, not infeasible, finite quality and cost.

    Args:
        trial: its status and feasibility.
        quality: its quality metric (``None`` or not a number: not measured).
        cost: its cost, e.g. total generation MACs per image.
    """
    return trial.status == "finished" and trial.feasible is not False and _finite(quality) and _finite(cost)


def trial_front(
    trials: Sequence[_Trial],
    quality: Callable[[_Trial], Any],
    cost: Callable[[_Trial], Any],
    lower_is_better: bool,
) -> list[_Trial]:
    """The :func:`eligible` trials no other eligible trial dominates, by increasing cost.

    Args:
        trials: the search's trials (any objects with ``status`` and ``feasible``).
        quality: a trial's quality metric.
        cost: a trial's cost (lower is better), e.g. total generation MACs per image.
        lower_is_better: the direction of the quality metric (``True`` for FID).
    """
    scored = [t for t in trials if eligible(t, quality(t), cost(t))]
    indices = pareto_front([float(cost(t)) for t in scored], [float(quality(t)) for t in scored], lower_is_better)
    return [scored[i] for i in indices]


def dominates(cost: float, quality: float, other_cost: float, other_quality: float, lower_is_better: bool) -> bool:
    """Whether the point ``(cost, quality)`` dominates ``(other_cost, other_quality)``.

    It does when it costs no more and is at least as good, and is strictly better in one of the two.

    Args:
        cost: cost of the point (lower is better), e.g. generation MACs or latency.
        quality: quality of the point.
        other_cost: cost of the other point, same unit.
        other_quality: quality of the other point.
        lower_is_better: the direction of the qualities (``True`` for FID).
    """
    loss, other_loss = (quality, other_quality) if lower_is_better else (-quality, -other_quality)
    return cost <= other_cost and loss <= other_loss and (cost < other_cost or loss < other_loss)


def pareto_front(costs: Sequence[float], qualities: Sequence[float], lower_is_better: bool) -> list[int]:
    """Indices of the non-dominated points, sorted by cost (then quality, best first).

    A point is dominated when another one costs no more and is at least as good, and is strictly
    better in one of the two. Identical points do not dominate each other.

    Args:
        costs: cost of each point (lower is better), e.g. generation MACs or latency.
        qualities: quality of each point.
        lower_is_better: the direction of ``qualities`` (``True`` for FID).
    """
    if len(costs) != len(qualities):
        raise ValueError(f"costs and qualities differ in length: {len(costs)} != {len(qualities)}")
    loss = [q if lower_is_better else -q for q in qualities]  # lower is better for both axes

    def dominated(i: int) -> bool:
        return any(dominates(costs[j], loss[j], costs[i], loss[i], True) for j in range(len(costs)))

    front = [i for i in range(len(costs)) if not dominated(i)]
    return sorted(front, key=lambda i: (costs[i], loss[i]))


def knee_index(costs: Sequence[float], qualities: Sequence[float], lower_is_better: bool) -> int | None:
    """The front point farthest from the straight line joining the front's two ends.

    Both axes are scaled to ``[0, 1]`` over the front first, so the units do not matter.

    Args:
        costs: cost of each front point.
        qualities: quality of each front point.
        lower_is_better: the direction of ``qualities``.

    Returns:
        The index of the knee, or ``None`` when there are fewer than three points or they are collinear.
    """
    if len(costs) < 3:
        return None
    loss = [q if lower_is_better else -q for q in qualities]
    order = sorted(range(len(costs)), key=lambda i: (costs[i], loss[i]))

    def scaled(values: Sequence[float]) -> list[float]:
        low, high = min(values), max(values)
        return [(v - low) / (high - low) if high > low else 0.0 for v in values]

    x, y = scaled(costs), scaled(loss)
    first, last = order[0], order[-1]
    dx, dy = x[last] - x[first], y[last] - y[first]
    norm = (dx * dx + dy * dy) ** 0.5
    if norm == 0:
        return None
    distances = {i: abs(dy * (x[i] - x[first]) - dx * (y[i] - y[first])) / norm for i in order[1:-1]}
    best = max(distances, key=lambda i: distances[i])
    return best if distances[best] > 1e-12 else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
