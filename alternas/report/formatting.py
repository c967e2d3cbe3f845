"""Number formatting shared by the terminal table, the HTML and the Markdown report.

MACs are formatted by :func:`alternas.macs.format_macs`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["format_value"]


def format_value(value: Any, digits: int = 4, fixed: bool = False) -> str:
    """A metric for a table cell: floats with ``digits`` significant digits (with ``fixed``, ``digits``
    decimals, so a column's numbers line up: ``0.500`` beside ``0.715``), ``None`` as ``"-"``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (float, int)) and fixed:
        return f"{value:.{digits}f}"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)
