"""Command line: ``alternas validate | encode | search | report | export | generate | train | schema``.

Every command module registers itself on :data:`alternas.cli._app.app`. :func:`main` is the error
boundary: an :class:`~alternas.exceptions.AlternasError` becomes one message and its exit code,
Ctrl-C exits with 130; neither prints a traceback.
"""

from __future__ import annotations

import sys

from ..exceptions import AlternasError
from . import (
    encode,  # noqa: F401  (registers commands)
    export,  # noqa: F401  (registers commands)
    generate,  # noqa: F401  (registers commands)
    report,  # noqa: F401  (registers commands)
    schema,  # noqa: F401  (registers commands)
    search,  # noqa: F401  (registers commands)
    train,  # noqa: F401  (registers commands)
    validate,  # noqa: F401  (registers commands)
)
from ._app import app, error_console, styled

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``alternas`` console script."""
    try:
        app()
    except AlternasError as error:
        error_console.print(styled("error:", "bold red", error), highlight=False)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        error_console.print(styled("interrupted", "yellow"))
        sys.exit(130)
