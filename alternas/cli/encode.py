"""``alternas encode RECIPE``: pre-encode a real-model recipe's training data before a search."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ._app import app, console, setup_logging


@app.command()
def encode(
    recipe_file: Path = typer.Argument(..., help="recipe YAML with a real pipeline and data (see recipes/)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Encode RECIPE's data once (VAE latents, text embeddings, FID reference images) into the cache.

    Trials then read the memory-mapped cache instead of running the VAE and the text encoder; run it on
    the GPU machine before `alternas search` (trials also encode on first use, one at a time).
    """
    setup_logging(verbose)
    from ..exceptions import ConfigError
    from ..recipe import load_recipe
    from ..sources import preencode

    recipe = load_recipe(recipe_file)
    if recipe.model.builtin_name is not None:
        raise ConfigError(f"`{recipe_file}` uses the built-in `{recipe.model.backbone}`, which needs no encoding")
    directory = preencode({"model": recipe.model.model_dump(), "data": recipe.data.model_dump()})
    meta = json.loads((directory / "meta.json").read_text())
    console.print(
        f"encoded {meta['count']} images at {meta['resolution']} px -> {tuple(meta['sample_shape'])} samples "
        f"in {directory}",
        highlight=False,
    )
