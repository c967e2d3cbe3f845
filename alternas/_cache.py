"""On-disk cache of things alternas builds itself (teacher weights, classifiers, encoded latents)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ._atomic import discard

__all__ = ["cache_root", "config_hash", "file_lock", "load_or_build"]

logger = logging.getLogger("alternas")

_Entry = TypeVar("_Entry")

#: what loading a missing, incomplete or damaged cache entry raises: missing files (OSError), torn JSON
#: (ValueError), torn safetensors or torch files (OSError, RuntimeError, EOFError, UnpicklingError)
_UNUSABLE = (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError)


def cache_root() -> Path:
    """``$ALTERNAS_CACHE``, else ``$XDG_CACHE_HOME/alternas``, else ``~/.cache/alternas``."""
    if os.environ.get("ALTERNAS_CACHE"):
        root = Path(os.environ["ALTERNAS_CACHE"])
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alternas"
    root.mkdir(parents=True, exist_ok=True)
    return root


def config_hash(data: Any, length: int = 12) -> str:
    """A short stable hash of JSON-serialisable ``data`` (key order does not matter)."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) so concurrent processes wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_or_build(
    directory: Path, load: Callable[[Path], _Entry], build: Callable[[Path], None], what: str
) -> _Entry:
    """The cache entry in ``directory``, built first if it is missing or does not load.

    Args:
        directory: the entry's folder.
        load: reads the entry; raises (OSError, ValueError, ...) if it is missing, incomplete or damaged.
        build: writes the entry into ``directory`` (atomically).
        what: the entry's name in the warning about a damaged one.

    Building happens under a file lock next to ``directory``, so concurrent processes build an entry once.
    A damaged entry is removed, with a warning, and built again.
    """
    try:
        return load(directory)
    except _UNUSABLE:
        pass
    with file_lock(directory.with_name(directory.name + ".lock")):
        try:
            return load(directory)  # another process may have built it meanwhile
        except _UNUSABLE as error:
            if directory.exists():
                logger.warning("the cached %s in %s does not load (%s); building it again", what, directory, error)
                discard(directory)
        build(directory)
        return load(directory)
