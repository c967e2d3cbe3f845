"""The JSON Schema of a recipe file, for editors (``yaml-language-server``) and other tools.

It is generated from the pydantic models (:class:`~alternas.recipe.Recipe`), then adjusted to what a
recipe *file* may hold before :func:`~alternas.recipe.load_recipe` fills it in: ``name`` and
``output_dir`` have defaults, and ``space`` may name a search-space file instead of holding one.
Cross-field checks (budgets, paths that must exist) stay with ``alternas validate``.
"""

from __future__ import annotations

import json
from typing import Any

from .recipe_model import Recipe

__all__ = ["SCHEMA_FILE", "recipe_json_schema", "recipe_json_schema_text"]

#: the committed schema next to the shipped recipes (``recipes/recipe.schema.json``)
SCHEMA_FILE = "recipe.schema.json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def recipe_json_schema() -> dict[str, Any]:
    """The recipe file's JSON Schema (draft 2020-12) as a mapping."""
    schema = Recipe.model_json_schema()
    schema["required"] = [name for name in schema.get("required", []) if name not in ("name", "output_dir")]
    properties = schema["properties"]
    properties["name"]["description"] += "; default: the recipe file's name"
    properties["output_dir"]["description"] += "; default: reports/<name>"
    space = properties["space"]
    properties["space"] = {
        "description": "the search space, inline or as the path of a search-space YAML file (relative to the recipe)",
        "anyOf": [{"type": "string", "description": "path of a search-space YAML file"}, space],
    }
    return {"$schema": _DIALECT, **schema}


def recipe_json_schema_text() -> str:
    """:func:`recipe_json_schema` as the text ``alternas schema`` prints (2-space indent, final newline)."""
    return json.dumps(recipe_json_schema(), indent=2) + "\n"
