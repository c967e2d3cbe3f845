"""What holds a search or confirmation session together: one driver per run directory, Ctrl-C that stops
Tune cleanly (so the session can be resumed), and SIGTERM that still shuts Ray down."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from ..exceptions import CheckpointError
from ..rundir import SearchRunDir

__all__ = ["exclusive", "first_sigint", "sigterm_as_interrupt"]


@contextlib.contextmanager
def exclusive(layout: SearchRunDir) -> Iterator[None]:
    """Hold a lock on the run directory so that two drivers never share it (released on any exit)."""
    lock_path = layout.root.parent / f".{layout.root.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise CheckpointError(f"another `alternas search` is running on `{layout.root}`") from error
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def first_sigint() -> Iterator[threading.Event]:
    """Handle Ctrl-C (SIGINT) during a search in the main thread, and yield an event that tells whether it came.

    The first SIGINT sets the event and asks Tune to stop gracefully with SIGUSR1, which Tune handles
    like its own Ctrl-C (it saves its state with the running trials still running, so a resume continues
    them); Tune's own SIGINT handler is switched off (``TUNE_DISABLE_SIGINT_HANDLER``) because a stop
    through it leaves no sign: Tune then counts the trials it stopped as terminated. Before Tune listens
    for SIGUSR1 (while the Tuner is built), and on a second SIGINT, Ctrl-C raises KeyboardInterrupt."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def interrupt(signum: int, frame: Any) -> None:
        if event.is_set() or signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.SIG_IGN, None):
            raise KeyboardInterrupt
        event.set()
        os.kill(os.getpid(), signal.SIGUSR1)

    previous_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    previous = signal.signal(signal.SIGINT, interrupt)
    previous_usr1 = signal.getsignal(signal.SIGUSR1)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGUSR1, previous_usr1 if previous_usr1 is not None else signal.SIG_DFL)
        if previous_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous_env


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt (a hard stop that still shuts Ray down) in the main thread.

    Entered after ``ray.init``, whose own SIGTERM handler would abort the driver without cleaning up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
