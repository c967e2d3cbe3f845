"""``alternas confirm RUN_DIR``: retrain a finished search's best candidates with new seeds, then report."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from ._app import app, console, error_console, setup_logging, styled


@app.command()
def confirm(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="a finished search's run directory"),
    top_k: int = typer.Option(None, "--top-k", min=1, help="candidates to confirm (default: report.confirm, else 2)"),
    seeds: int = typer.Option(None, "--seeds", min=2, help="new training seeds per candidate (default: report.confirm, else 2)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="discard an earlier confirmation and start over"),
    address: str = typer.Option(None, "--address", help="join this Ray cluster instead of starting a local one"),
    no_report: bool = typer.Option(False, "--no-report", help="do not write the report at the end"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Retrain the winner rule's best trials of RUN_DIR with new training seeds (Ray Tune trials of the same
    run directory, resumable: rerun the command); the report then ranks configurations by their confirmed
    means. Ctrl-C stops cleanly."""
    setup_logging(verbose)
    from ..config import ConfirmConfig
    from ..exceptions import CheckpointError
    from ..recipe import load_recipe
    from ..rundir import SearchRunDir
    from ..search import confirm_search

    recipe_file = SearchRunDir(run_dir).recipe_file
    if not recipe_file.is_file():
        raise CheckpointError(f"`{run_dir}` is not a search run directory (no {recipe_file.name}); pass the folder "
                              "`alternas search` wrote")
    recipe = load_recipe(recipe_file).model_copy(update={"output_dir": str(run_dir)})
    settings = recipe.report.confirm or ConfirmConfig()
    settings = ConfirmConfig(top_k=top_k or settings.top_k, seeds=seeds or settings.seeds)
    again = f"alternas confirm {shlex.quote(str(run_dir))} --top-k {settings.top_k} --seeds {settings.seeds}"
    try:
        result = confirm_search(recipe, settings, overwrite=overwrite, address=address, console=console)
    except KeyboardInterrupt:
        error_console.print(styled("stopped.", "yellow", f"continue with: {again}"), highlight=False)
        sys.exit(130)
    console.print(result.message, highlight=False)
    if not no_report:
        from ..report import print_report, write_report

        print_report(write_report(run_dir), console)
    if result.state is not None and result.state.status != "finished":
        error_console.print(styled(f"{result.state.status}.", "yellow", f"continue with: {again}"), highlight=False)
        sys.exit(130)
