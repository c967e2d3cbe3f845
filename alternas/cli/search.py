"""``alternas search RECIPE``: run (or resume) a recipe's search with live progress, then report it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from ._app import app, console, error_console, setup_logging, styled


@app.command()
def search(
    recipe_file: Path = typer.Argument(..., metavar="RECIPE", help="recipe YAML (see recipes/)"),
    resume: bool = typer.Option(
        False, "--resume", help="continue the search in the recipe's run directory (start one if there is none)"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="delete the run directory's search and start over"),
    address: str = typer.Option(
        None,
        "--address",
        help="join this Ray cluster instead of starting a local one (default: $RAY_ADDRESS); a cluster with "
        "token authentication also needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)",
    ),
    no_report: bool = typer.Option(False, "--no-report", help="do not write the report at the end"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Search RECIPE's space with Ray Tune + Optuna; Ctrl-C stops cleanly and prints the resume command."""
    setup_logging(verbose)
    from ..exceptions import ConfigError
    from ..rundir import SearchRunDir
    from ..search import search as run_search

    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other")
    resume_command = f"alternas search {shlex.quote(str(recipe_file))} --resume"
    try:
        result = run_search(recipe_file, resume=resume, overwrite=overwrite, address=address, console=console)
    except KeyboardInterrupt:
        error_console.print(styled("stopped.", "yellow", f"resume with: {resume_command}"), highlight=False)
        sys.exit(130)
    state = result.state
    console.print(
        f"{state.status}: {state.finished_trials} finished, {state.failed_trials} failed, "
        f"{state.stopped_trials} stopped early of "
        f"{state.planned_trials} trials in {state.wall_seconds:.0f} s; run directory {result.run_dir}",
        highlight=False,
    )
    if result.confirmation is not None:
        console.print(result.confirmation.message, highlight=False)
    _, unreadable = SearchRunDir(result.run_dir).scan()
    for trial in unreadable:  # a damaged record: its trial is on no front; `alternas report` lists it too
        error_console.print(styled(f"trial {trial.trial_id} is left out:", "yellow", trial.reason), highlight=False)
    if not no_report and state.finished_trials:
        from ..report import print_report, write_report

        print_report(write_report(result.run_dir), console)
    if state.status != "finished":
        error_console.print(styled(f"{state.status}.", "yellow", f"resume with: {resume_command}"), highlight=False)
        sys.exit(130 if state.status == "interrupted" else 0)
    confirmation = result.confirmation
    if confirmation is not None and confirmation.state is not None and confirmation.state.status != "finished":
        error_console.print(
            styled("confirmation interrupted.", "yellow", f"resume with: {resume_command}"), highlight=False
        )
        sys.exit(130)
