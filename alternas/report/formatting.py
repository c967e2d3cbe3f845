"""Number formatting shared by the terminal table, the HTML and the Markdown report.

MACs are formatted by :func:`alternas.macs.format_macs`.
"""

from __future__ import annotations

import math
from typing import Any

from ..quality import Interval

__all__ = ["format_interval", "format_value"]


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


def format_interval(interval: Interval | None, signed: bool = False) -> str:
    """``"8.13 [7.60, 8.66]"`` (``signed``: ``"-0.45 [-0.70, -0.20]"``, for differences); ``"-"`` for none.

    Three significant digits for the larger of the ends, the same decimals for all three numbers."""
    if interval is None:
        return "-"
    if not math.isfinite(interval.low) or not math.isfinite(interval.high):
        return f"{interval.value:{'+' if signed else ''}.3g} [no interval]"
    scale = max(abs(interval.low), abs(interval.high), abs(interval.value), 1e-12)
    decimals = max(0, 2 - math.floor(math.log10(scale)))
    sign = "+" if signed else ""
    return (
        f"{interval.value:{sign}.{decimals}f} [{interval.low:{sign}.{decimals}f}, {interval.high:{sign}.{decimals}f}]"
    )
