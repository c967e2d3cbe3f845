"""``alternas validate RECIPE``: check a recipe without training and print what a search would do."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, setup_logging, styled


@app.command()
def validate(
    recipe_file: Path = typer.Argument(..., metavar="RECIPE", help="recipe YAML (see recipes/)"),
    check_macs: bool = typer.Option(
        False, "--check-macs", help="also count the dense model's MACs with thop's module hooks and print both"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Validate RECIPE: schema, search space, units with their MACs, and budget feasibility (no training)."""
    setup_logging(verbose)
    from ..macs import format_macs
    from ..recipe import inspect_recipe, load_recipe, render_inspection

    recipe = load_recipe(recipe_file)
    inspection = inspect_recipe(recipe, str(recipe_file))
    console.print(render_inspection(inspection))
    if check_macs:
        counted, independent = inspection.costs.dense_macs, inspection.independent_dense_macs()
        console.print(
            f"dense MACs per sample and forward ({inspection.costs.convention}): alternas "
            f"{format_macs(counted, '.6g')}, thop {format_macs(independent, '.6g')} "
            f"(difference {independent / counted - 1:+.3%})",
            highlight=False,
        )
    console.print(styled("valid:", "green", recipe_file), highlight=False)
