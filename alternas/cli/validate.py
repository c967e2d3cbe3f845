"""``alternas validate RECIPE``: check a recipe without training and print what a search would do."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, setup_logging, styled


@app.command()
def validate(
    recipe_file: Path = typer.Argument(..., metavar="RECIPE", help="recipe YAML (see recipes/)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Validate RECIPE: schema, search space, units with their MACs, and budget feasibility (no training)."""
    setup_logging(verbose)
    from ..recipe import inspect_recipe, load_recipe, render_inspection

    recipe = load_recipe(recipe_file)
    inspection = inspect_recipe(recipe, str(recipe_file))
    console.print(render_inspection(inspection))
    console.print(styled("valid:", "green", recipe_file), highlight=False)
