"""How a benchmark hands back its result: JSON on stdout and, when asked, in a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alternas._atomic import atomic_write_text

__all__ = ["emit_json"]


def emit_json(result: Any, path: Path | None) -> None:
    """Print ``result`` as indented JSON; with ``path``, also write it there (atomically, newline-terminated)."""
    text = json.dumps(result, indent=2)
    if path is not None:
        atomic_write_text(path, text + "\n")
    print(text)
