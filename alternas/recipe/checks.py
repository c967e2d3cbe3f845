"""Checks of a recipe beyond its schema: fields that depend on each other, budgets, files on disk.

Each check returns every problem it finds (a :class:`Problem`: a dotted field path and what is wrong,
with the fix; budgets: the engine's own message, which names the field) so that a caller reports all
of them at once, each line naming the file and the field. What concerns one search dimension (its
fields, initial points in it, trial configs at its extremes) is asked of the dimensions.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..exceptions import BudgetError
from ..macs import CostProfile
from .dimensions import SearchDimension, search_dimensions
from .problems import Problem
from .recipe_model import TRACKER_PACKAGES, Recipe
from .trial_config import resolve_trial

__all__ = ["recipe_problems", "budget_problems", "resource_problems"]


def recipe_problems(recipe: Recipe) -> list[Problem]:
    """Cross-field problems: searched fields, the sampler's needs, the quality metric, trial configs."""
    dimensions = search_dimensions(recipe)
    problems = list(_dimension_problems(dimensions))
    if recipe.report.quality_metric not in recipe.eval.metrics:
        problems.append(
            Problem(
                "report.quality_metric",
                f"`{recipe.report.quality_metric}` is not measured: add it to `eval.metrics` "
                f"(now {recipe.eval.metrics})",
            )
        )
    if recipe.search.sampler == "grid":
        problems += [
            Problem(d.path, f"the grid sampler needs a list of values, got the range {d.describe()}")
            for d in dimensions
            if d.choices() is None
        ]
    problems += _initial_point_problems(recipe, dimensions)
    problems += _tracking_problems(recipe)
    if not problems:
        problems += _trial_config_problems(recipe, dimensions)
    return problems


def budget_problems(recipe: Recipe, costs: CostProfile) -> list[str]:
    """Budgets the candidate units cannot reach (below their fixed cost) at any of the step counts.

    Returns:
        One message per unreachable budget, naming the field and the reachable range.
    """
    budget = recipe.space.budget
    path = f"space.{budget.param}"
    problems = []
    for value in budget.dimension.extremes():
        for steps in recipe.default_steps():
            where = path if budget.macs_share is not None else f"{path} = {value:g} at {steps} sampler steps"
            try:
                costs.check_budget(budget.target_share(value, steps), where=where)
            except BudgetError as error:
                problems.append(str(error))
    return problems


def resource_problems(recipe: Recipe) -> list[Problem]:
    """Training data the recipe names that is not on disk (backbone weights are checked when
    ``alternas search`` loads the backbone, before any trial starts)."""
    problems = []
    source = recipe.data.source
    if recipe.data.source_kind == "path":
        if not Path(source).exists():
            problems.append(
                Problem("data.source", f"`{source}` does not exist; give an image folder, .tar shards or `hf:<dataset>`")
            )
    return problems


def _tracking_problems(recipe: Recipe) -> Iterator[Problem]:
    """Trackers in ``search.tracking`` whose package is not installed."""
    for tracker in recipe.search.tracking:
        package = TRACKER_PACKAGES[tracker]
        if importlib.util.find_spec(package) is None:
            yield Problem(
                "search.tracking",
                f"`{tracker}` needs the package `{package}`, which is not installed: `pip install {package}`, "
                f"or remove `{tracker}` from `search.tracking`",
            )


def _dimension_problems(dimensions: list[SearchDimension]) -> Iterator[Problem]:
    """What each dimension finds wrong with itself; else whether an earlier dimension searches its parameter
    already (e.g. a registered dimension and a range of the same field)."""
    first: dict[str, SearchDimension] = {}
    for dimension in dimensions:
        own = list(dimension.problems())
        other = first.setdefault(dimension.name, dimension)
        if own:
            yield from own
        elif other is not dimension:
            yield Problem(dimension.path, f"`{dimension.name}` is searched already by `{other.path}`; search it once")


def _initial_point_problems(recipe: Recipe, dimensions: list[SearchDimension]) -> Iterator[Problem]:
    points = recipe.search.initial_points
    if points and recipe.search.sampler == "grid":
        yield Problem("search.initial_points", "the grid sampler visits every point itself; remove them")
        return
    if len(points) > recipe.planned_trials():
        yield Problem("search.initial_points", f"{len(points)} points but only {recipe.planned_trials()} trials")
    allowed = {dimension.name: dimension for dimension in dimensions}
    for index, point in enumerate(points):
        missing, unknown = sorted(set(allowed) - set(point)), sorted(set(point) - set(allowed))
        if missing or unknown:
            yield Problem(
                f"search.initial_points[{index}]",
                f"give exactly the search parameters {list(allowed)} (missing {missing}, unknown {unknown})",
            )
            continue
        for name, value in point.items():
            if not allowed[name].contains(value):
                yield Problem(f"search.initial_points[{index}].{name}", f"{value!r} is not in the search space")


def _trial_config_problems(recipe: Recipe, dimensions: list[SearchDimension]) -> list[Problem]:
    """Build the run config of the space's first point, then at every extreme of every dimension."""
    base = {dimension.name: dimension.extremes()[0] for dimension in dimensions}
    problem = _run_config_problem(recipe, dimensions, "space", base, f"the point {base}")
    if problem is not None:
        return [problem]
    problems = []
    for dimension in dimensions:
        for value in dimension.extremes()[1:]:
            sampled = {**base, dimension.name: value}
            problem = _run_config_problem(recipe, dimensions, dimension.path, sampled, f"the value {value!r}")
            if problem is not None:
                problems.append(problem)
    return problems


def _run_config_problem(
    recipe: Recipe, dimensions: list[SearchDimension], path: str, sampled: dict[str, Any], what: str
) -> Problem | None:
    try:
        resolve_trial(recipe, sampled, seed=recipe.search.seed, dimensions=dimensions)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return Problem(path, f"{what} gives an invalid run config: `{where}`: {first['msg']}")
    return None
