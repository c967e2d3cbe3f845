"""Turn one point of a recipe's search space into the run config of one trial."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import RunConfig
from .schema import Recipe, numeric_field_type
from .space import EXPERTS_PARAM, SAMPLER_PARAM, STEPS_PARAM

__all__ = ["TrialConfig", "resolve_trial", "search_params"]


@dataclass(frozen=True)
class TrialConfig:
    """One trial, resolved.

    Attributes:
        run: the trial's complete run configuration.
        params: the searched values as run-config dotted paths (``experts.count``, ``budget.macs_share``,
            ``eval.steps``, ``eval.scheduler`` when samplers are searched, range paths...), as recorded in
            the trial's record.
        budget_share: MACs per sampler step the budget allows, as a share of the dense backbone (above
            1 when a generation budget already fits the dense model at this step count).
    """

    run: RunConfig
    params: dict[str, Any]
    budget_share: float


def search_params(recipe: Recipe) -> list[str]:
    """Names of the values a sampler chooses for each trial."""
    sampler = [SAMPLER_PARAM] if recipe.space.samplers is not None else []
    return [EXPERTS_PARAM, recipe.space.budget.param, STEPS_PARAM, *sampler, *recipe.space.ranges]


def resolve_trial(recipe: Recipe, sampled: Mapping[str, Any], seed: int) -> TrialConfig:
    """The run config of the trial that sampled ``sampled``.

    Args:
        recipe: the validated recipe.
        sampled: one value for each of :func:`search_params` (a layout label for ``experts``).
        seed: the trial's training seed.

    Raises:
        KeyError: ``sampled`` lacks a parameter or names an unknown layout.
        pydantic.ValidationError: the values do not form a valid run config.
    """
    space = recipe.space
    layout = {layout.label: layout for layout in space.experts.layouts()}[sampled[EXPERTS_PARAM]]
    steps = int(sampled[STEPS_PARAM])
    budget_value = float(sampled[space.budget.param])
    target = space.budget.target_share(budget_value, steps)

    data = recipe.base_run_config()
    data["units"] = space.units.model_dump(mode="json")
    data["experts"] = layout.experts_config().model_dump(mode="json")
    data["budget"] = {"macs_share": target, "convention": space.budget.convention}
    data["eval"]["steps"] = steps
    data["train"]["seed"] = seed

    params: dict[str, Any] = {"experts.count": layout.count, "experts.routing": layout.routing}
    if layout.boundaries is not None:
        params["experts.boundaries"] = list(layout.boundaries)
    params["budget.macs_share"] = target
    if space.budget.generation_share is not None:
        params["budget.generation_share"] = budget_value
    params[STEPS_PARAM] = steps
    if space.samplers is not None:
        data["eval"]["scheduler"] = params[SAMPLER_PARAM] = str(sampled[SAMPLER_PARAM])
    for path in space.ranges:
        kind = numeric_field_type(path) or float
        value = kind(sampled[path])
        section, _, field = path.partition(".")
        data[section][field] = value
        params[path] = value
    return TrialConfig(
        run=RunConfig.model_validate(data),
        params=params,
        budget_share=space.budget.budget_share(budget_value, steps),
    )
