"""Everything ``alternas validate`` knows about a recipe without training: units, MACs, budgets, files."""

from __future__ import annotations

from dataclasses import dataclass

from ..backbones import adapter_for
from ..exceptions import BackboneError, BudgetError, ConfigError
from ..macs import CostProfile, independent_macs
from ..units import UnitSpec, select_units
from .checks import budget_problems, resource_problems
from .costs import Architecture, recipe_architecture, recipe_costs
from .problems import Problem
from .recipe_model import Recipe

__all__ = ["RecipeInspection", "inspect_recipe"]


@dataclass
class RecipeInspection:
    """A validated recipe with its measured costs.

    Attributes:
        recipe: the recipe.
        origin: the recipe's file (for messages).
        architecture: the backbone on the meta device and the input it was profiled at.
        units: every prunable unit of the backbone, in execution order.
        candidates: the space's candidate units (a subset of ``units``).
        costs: measured MACs of the candidates and of the fixed part, per sample and forward.
        missing: inputs that are not on disk yet (`alternas search` needs them).
    """

    recipe: Recipe
    origin: str
    architecture: Architecture
    units: list[UnitSpec]
    candidates: list[UnitSpec]
    costs: CostProfile
    missing: list[Problem]

    def independent_dense_macs(self) -> float:
        """The dense backbone's MACs per sample and forward counted a second way (``thop`` module hooks,
        :func:`~alternas.macs.independent_macs`), under the space's convention, to set beside
        ``costs.dense_macs``."""
        return independent_macs(
            adapter_for(self.architecture.model),
            condition_length=self.architecture.condition_length,
            include_attention=self.costs.convention == "macs",
            sample_shape=self.architecture.sample_shape,
        )


def inspect_recipe(recipe: Recipe, origin: str = "<recipe>") -> RecipeInspection:
    """Build the backbone on the meta device, select and profile the candidate units, check budgets.

    Raises:
        BackboneError: the architecture cannot be built offline.
        ConfigError: the builtin backbone or its options are unknown, or the unit selection matches
            no unit.
        BudgetError: a budget is below the fixed cost of the candidate units.
    """
    try:
        architecture = recipe_architecture(recipe)
    except (BackboneError, ConfigError) as error:
        raise type(error)(f"{origin}: {error}") from error
    units = adapter_for(architecture.model).discover_units()
    selection = recipe.space.units
    try:
        candidates = select_units(units, selection.include, selection.exclude, selection.kinds)
    except BackboneError as error:
        raise ConfigError(f"{origin}: `space.units`: {error}") from error
    costs = recipe_costs(recipe, architecture, candidates)
    problems = budget_problems(recipe, costs)
    if problems:
        raise BudgetError("\n".join(f"{origin}: {problem}" for problem in problems))
    return RecipeInspection(recipe, origin, architecture, units, candidates, costs, resource_problems(recipe))
