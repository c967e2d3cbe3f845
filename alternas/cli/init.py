"""``alternas init RECIPE``: write a starting recipe and its search space (from the installed package)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, styled


@app.command()
def init(
    recipe_file: Path = typer.Argument(..., metavar="RECIPE", help="the recipe file to write, e.g. my-search.yaml"),
    starter: str = typer.Option("quickstart", "--starter", help="which starting recipe (quickstart)"),
    force: bool = typer.Option(False, "--force", help="overwrite existing files"),
) -> None:
    """Write a starting recipe to RECIPE and its search space beside it (RECIPE's name + -space.yaml)."""
    from ..starters import write_starter

    recipe, space = write_starter(recipe_file, starter, overwrite=force)
    console.print(styled("wrote:", "green", f"{recipe} and {space}"), highlight=False)
    console.print(f"next: alternas validate {recipe} && alternas search {recipe}", highlight=False, markup=False)
