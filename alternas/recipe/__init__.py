"""Recipes: the fixed run settings, the search space, and how a search runs and is judged."""

from .checks import Problem, searchable_fields
from .costs import Architecture, recipe_architecture, recipe_costs
from .display import render_inspection
from .inspection import RecipeInspection, inspect_recipe
from .json_schema import recipe_json_schema, recipe_json_schema_text
from .loading import load_recipe, read_yaml
from .schema import Recipe, SearchSettings
from .space import EXPERTS_PARAM, SAMPLER_PARAM, STEPS_PARAM, BudgetSpace, Dimension, ExpertsSpace, Layout, SearchSpace
from .trials import TrialConfig, resolve_trial, search_params

__all__ = [
    "Architecture",
    "BudgetSpace",
    "Dimension",
    "EXPERTS_PARAM",
    "ExpertsSpace",
    "Layout",
    "Problem",
    "Recipe",
    "RecipeInspection",
    "SAMPLER_PARAM",
    "STEPS_PARAM",
    "SearchSettings",
    "SearchSpace",
    "TrialConfig",
    "inspect_recipe",
    "load_recipe",
    "read_yaml",
    "recipe_architecture",
    "recipe_costs",
    "recipe_json_schema",
    "recipe_json_schema_text",
    "render_inspection",
    "resolve_trial",
    "search_params",
    "searchable_fields",
]
