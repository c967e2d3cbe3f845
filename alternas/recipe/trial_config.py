"""Turn one point of a recipe's search space into the run config of one trial."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import RunConfig
from .dimensions import SearchDimension, TrialDraft, search_dimensions
from .recipe_model import Recipe

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
    """Names of the values a sampler chooses for each trial, in order (see
    :func:`~alternas.recipe.search_dimensions`)."""
    return [dimension.name for dimension in search_dimensions(recipe)]


def resolve_trial(
    recipe: Recipe,
    sampled: Mapping[str, Any],
    seed: int,
    dimensions: Sequence[SearchDimension] | None = None,
) -> TrialConfig:
    """The run config of the trial that sampled ``sampled``.

    Args:
        recipe: the validated recipe.
        sampled: one value for each of :func:`search_params` (a layout label for ``experts``).
        seed: the trial's training seed.
        dimensions: the recipe's search dimensions (default: :func:`~alternas.recipe.search_dimensions`); a
            search passes its driver's, so that a dimension registered there applies in Ray workers too.

    Raises:
        KeyError: ``sampled`` lacks a parameter or names an unknown layout.
        pydantic.ValidationError: the values do not form a valid run config.
    """
    run = recipe.base_run_config()
    run["units"] = recipe.space.units.model_dump(mode="json")
    run["train"]["seed"] = seed
    trial = TrialDraft(sampled, run)
    for dimension in search_dimensions(recipe) if dimensions is None else dimensions:
        dimension.apply(sampled[dimension.name], trial)
    return TrialConfig(run=RunConfig.model_validate(trial.run), params=trial.params, budget_share=trial.budget_share)
