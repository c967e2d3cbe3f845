"""``alternas schema``: print the JSON Schema of a recipe file (for editors and other tools)."""

from __future__ import annotations

import typer

from ._app import app


@app.command()
def schema() -> None:
    """Print the recipe's JSON Schema; shipped recipes point at it with a `yaml-language-server` comment."""
    from ..recipe import recipe_json_schema_text

    typer.echo(recipe_json_schema_text(), nl=False)
