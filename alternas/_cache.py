"""On-disk cache of things alternas builds itself (teacher weights, classifiers, encoded latents)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["cache_root", "config_hash", "file_lock"]


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
