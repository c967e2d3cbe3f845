"""Checks of a recipe beyond its schema: fields that depend on each other, budgets, files on disk.

Each check returns every problem it finds (a :class:`Problem`: a dotted field path and what is wrong,
with the fix; budgets: the engine's own message, which names the field) so that a caller reports all
of them at once, each line naming the file and the field.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..config import RunConfig
from ..exceptions import BudgetError
from ..macs import CostProfile
from .schema import FIXED_PER_TRIAL, TRACKER_PACKAGES, Recipe, numeric_field_type
from .space import EXPERTS_PARAM, SAMPLER_PARAM, STEPS_PARAM
from .trials import resolve_trial

__all__ = ["Problem", "recipe_problems", "budget_problems", "resource_problems", "searchable_fields"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe.

    Attributes:
        path: the dotted field path, e.g. ``space.ranges.train.lr``.
        message: what is wrong and how to fix it.
    """

    path: str
    message: str

    def format(self, source: str | Path) -> str:
        """``<file>: `<path>`: <message>``."""
        return f"{source}: `{self.path}`: {self.message}"


def searchable_fields() -> list[str]:
    """Every run-config field ``space.ranges`` may search (numeric, not set per trial)."""
    fields = []
    for section_name, section in RunConfig.model_fields.items():
        for field_name in section.annotation.model_fields:
            path = f"{section_name}.{field_name}"
            if numeric_field_type(path) is not None and path not in FIXED_PER_TRIAL:
                fields.append(path)
    return fields


def recipe_problems(recipe: Recipe) -> list[Problem]:
    """Cross-field problems: searched fields, the sampler's needs, the quality metric, trial configs."""
    problems = list(_range_problems(recipe))
    if recipe.report.quality_metric not in recipe.eval.metrics:
        problems.append(
            Problem(
                "report.quality_metric",
                f"`{recipe.report.quality_metric}` is not measured: add it to `eval.metrics` "
                f"(now {recipe.eval.metrics})",
            )
        )
    if recipe.search.sampler == "grid":
        dimensions = {f"space.{recipe.space.budget.param}": recipe.space.budget.dimension}
        dimensions.update({f"space.ranges.{path}": d for path, d in recipe.space.ranges.items()})
        problems += [
            Problem(path, f"the grid sampler needs a list of values, got the range {d.describe()}")
            for path, d in dimensions.items()
            if d.is_range
        ]
    problems += _initial_point_problems(recipe)
    problems += _tracking_problems(recipe)
    if not problems:
        problems += _trial_config_problems(recipe)
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


def _range_problems(recipe: Recipe) -> Iterator[Problem]:
    known = searchable_fields()
    for path in recipe.space.ranges:
        if path in FIXED_PER_TRIAL:
            yield Problem(f"space.ranges.{path}", f"`{path}` is set per trial from {FIXED_PER_TRIAL[path]}")
        elif numeric_field_type(path) is None:
            close = difflib.get_close_matches(path, known, n=1)
            hint = f"did you mean `{close[0]}`?" if close else "e.g. `train.lr`, `train.hypernet_lr`, `loss.ratio`"
            yield Problem(f"space.ranges.{path}", f"not a numeric run-config field; {hint}")


def _initial_point_problems(recipe: Recipe) -> Iterator[Problem]:
    points = recipe.search.initial_points
    if points and recipe.search.sampler == "grid":
        yield Problem("search.initial_points", "the grid sampler visits every point itself; remove them")
        return
    if len(points) > recipe.planned_trials():
        yield Problem("search.initial_points", f"{len(points)} points but only {recipe.planned_trials()} trials")
    allowed = _allowed_values(recipe)
    for index, point in enumerate(points):
        missing, unknown = sorted(set(allowed) - set(point)), sorted(set(point) - set(allowed))
        if missing or unknown:
            yield Problem(
                f"search.initial_points[{index}]",
                f"give exactly the search parameters {list(allowed)} (missing {missing}, unknown {unknown})",
            )
            continue
        for name, value in point.items():
            if not allowed[name](value):
                yield Problem(f"search.initial_points[{index}].{name}", f"{value!r} is not in the search space")


def _allowed_values(recipe: Recipe) -> dict[str, Callable[[Any], bool]]:
    """For every search parameter, a test of whether a value lies in the space."""
    space = recipe.space
    allowed: dict[str, Callable[[Any], bool]] = {
        EXPERTS_PARAM: lambda v: v in {layout.label for layout in space.experts.layouts()},
        space.budget.param: space.budget.dimension.contains,
        STEPS_PARAM: lambda v: v in recipe.default_steps(),
    }
    if space.samplers is not None:
        allowed[SAMPLER_PARAM] = lambda v: v in space.samplers
    allowed.update({path: dimension.contains for path, dimension in space.ranges.items()})
    return allowed


def _trial_config_problems(recipe: Recipe) -> list[Problem]:
    """Build the run config of the space's first point, then at every extreme of every dimension."""
    points = _extreme_points(recipe)
    base_path, base = next(points)
    problem = _run_config_problem(recipe, base_path, base, f"the point {base}")
    if problem is not None:
        return [problem]
    problems = []
    for path, (param, sampled) in points:
        problem = _run_config_problem(recipe, path, sampled, f"the value {sampled[param]!r}")
        if problem is not None:
            problems.append(problem)
    return problems


def _run_config_problem(recipe: Recipe, path: str, sampled: dict[str, Any], what: str) -> Problem | None:
    try:
        resolve_trial(recipe, sampled, seed=recipe.search.seed)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return Problem(path, f"{what} gives an invalid run config: `{where}`: {first['msg']}")
    return None


def _extreme_points(recipe: Recipe) -> Iterator[tuple[str, Any]]:
    """``("space", first point)``, then ``(dimension path, (parameter, point))`` for every extreme value."""
    space = recipe.space
    variations: dict[str, tuple[str, list[Any]]] = {
        "space.experts": (EXPERTS_PARAM, [layout.label for layout in space.experts.layouts()]),
        f"space.{space.budget.param}": (space.budget.param, space.budget.dimension.extremes()),
        "space.steps": (STEPS_PARAM, recipe.default_steps()),
    }
    if space.samplers is not None:
        variations["space.samplers"] = (SAMPLER_PARAM, list(space.samplers))
    for path, dimension in space.ranges.items():
        kind = numeric_field_type(path) or float
        variations[f"space.ranges.{path}"] = (path, [kind(value) for value in dimension.extremes()])
    base = {param: values[0] for param, values in variations.values()}
    yield "space", base
    for path, (param, values) in variations.items():
        for value in values[1:]:
            yield path, (param, {**base, param: value})
