"""Recipes: the fixed run settings, the search space, and how a search runs and is judged."""

from .costs import Architecture, recipe_architecture, recipe_costs
from .dimensions import (
    DIMENSIONS,
    SearchDimension,
    TrialDraft,
    recipe_dimensions,
    register_dimension,
    search_dimensions,
)
from .display import render_inspection
from .inspection import RecipeInspection, inspect_recipe
from .json_schema import recipe_json_schema, recipe_json_schema_text
from .recipe_loading import load_recipe, read_yaml
from .problems import Problem
from .recipe_model import Recipe, SearchSettings
from .space import (
    EXPERTS_PARAM,
    SAMPLER_PARAM,
    STEPS_PARAM,
    BudgetSpace,
    Dimension,
    ExpertsSpace,
    Layout,
    SearchSpace,
    searchable_fields,
)
from .trial_config import TrialConfig, resolve_trial, search_params

__all__ = [
    "Architecture",
    "BudgetSpace",
    "DIMENSIONS",
    "Dimension",
    "EXPERTS_PARAM",
    "ExpertsSpace",
    "Layout",
    "Problem",
    "Recipe",
    "RecipeInspection",
    "SAMPLER_PARAM",
    "STEPS_PARAM",
    "SearchDimension",
    "SearchSettings",
    "SearchSpace",
    "TrialConfig",
    "TrialDraft",
    "inspect_recipe",
    "load_recipe",
    "read_yaml",
    "recipe_architecture",
    "recipe_costs",
    "recipe_dimensions",
    "recipe_json_schema",
    "recipe_json_schema_text",
    "register_dimension",
    "render_inspection",
    "resolve_trial",
    "search_dimensions",
    "search_params",
    "searchable_fields",
]
