"""Command line: ``alternas init | validate | encode | search | confirm | report | export | generate | train |
schema``.

Every command module registers itself on :data:`alternas.cli._app.app`. :func:`main` is the error
boundary: an :class:`~alternas.exceptions.AlternasError` becomes one message and its exit code,
Ctrl-C exits with 130; any other exception prints one line naming the log file that holds its
traceback (exit 1). None prints a traceback.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .._readers import short
from ..exceptions import AlternasError
from . import (
    confirm,  # noqa: F401  (registers commands)
    encode,  # noqa: F401  (registers commands)
    export,  # noqa: F401  (registers commands)
    generate,  # noqa: F401  (registers commands)
    init,  # noqa: F401  (registers commands)
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
    except Exception as error:  # a bug, or an environment alternas does not foresee: one line, log kept
        log = _write_crash_log(error)
        error_console.print(
            styled("error:", "bold red", f"unexpected {type(error).__name__}: {short(error, 200)}. The traceback is in {log}"),
            highlight=False,
        )
        sys.exit(1)


def _write_crash_log(error: BaseException) -> Path:
    """Write the command line, versions and traceback of an unexpected error to a new file in the temp
    folder (``alternas-error-<time>-<pid>.log``) and return its path."""
    from .. import __version__

    stamp = time.strftime("%Y%m%d-%H%M%S")
    handle, name = tempfile.mkstemp(prefix=f"alternas-error-{stamp}-{os.getpid()}-", suffix=".log")
    with os.fdopen(handle, "w", encoding="utf-8") as log:
        log.write(f"command: {' '.join(sys.argv)}\nalternas {__version__}, Python {sys.version.split()[0]}\n\n")
        log.write("".join(traceback.format_exception(error)))
    return Path(name)
