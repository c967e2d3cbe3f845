"""One thing wrong with a recipe: the dotted field it is in, and what is wrong with the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe.

    Attributes:
        path: the dotted field path, e.g. ``space.ranges.train.lr``.
        message: what is wrong and how to fix it.
    """

    path: str
    message: str

    def format(self, source: str | Path) -> str:
        """``<file>: `<path>`: <message>``."""
        return f"{source}: `{self.path}`: {self.message}"
