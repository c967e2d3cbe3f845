"""The ``alternas`` typer application, its console, and the error boundary of every command."""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

__all__ = ["app", "console", "error_console", "setup_logging", "styled"]

app = typer.Typer(
    name="alternas",
    help="Config-driven architecture search for diffusion models with ALTER temporal experts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
#: columns for tables when output is not a terminal (CI logs, files): wide enough that trial ids and
#: numbers never wrap; ``COLUMNS`` still wins
_PLAIN_WIDTH = 160


def _console(stderr: bool = False) -> Console:
    """A console that never reads rich markup from strings: user text (paths, recipe values, error
    messages) is printed as given, so ``[/x]`` in it is text, not a tag; styles come from ``Text``."""
    console = Console(stderr=stderr, markup=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=_PLAIN_WIDTH, markup=False)
    return console


def styled(label: str, style: str, text: object = "") -> Text:
    """``label`` in ``style`` followed by ``text`` as plain text, e.g. ``styled("error:", "bold red", error)``."""
    return Text.assemble((label, style), f" {text}" if text != "" else "")


console = _console()
error_console = _console(stderr=True)


def setup_logging(verbose: bool = False) -> None:
    """Route alternas' log records to the terminal (rich on a TTY, plain lines otherwise)."""
    logger = logging.getLogger("alternas")
    logger.handlers.clear()
    if sys.stderr.isatty():
        handler: logging.Handler = RichHandler(console=error_console, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"alternas {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """Config-driven architecture search for diffusion models with ALTER temporal experts."""
