"""Number formatting shared by the terminal table, the HTML and the Markdown report."""

from __future__ import annotations

from typing import Any

__all__ = ["format_macs", "format_value", "macs_scale"]

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def macs_scale(value: float) -> tuple[float, str]:
    """``(divisor, unit)`` that shows ``value`` MACs with an SI prefix, e.g. ``(1e6, "MMACs")``."""
    for divisor, prefix in _PREFIXES:
        if abs(value) >= divisor:
            return divisor, f"{prefix}MACs"
    return 1.0, "MACs"


def format_macs(value: float | None, compact: bool = False) -> str:
    """``44890112.0`` -> ``"44.9 MMACs"`` (``compact``: ``"44.9M"``); ``None`` -> ``"-"``."""
    if value is None:
        return "-"
    divisor, unit = macs_scale(value)
    if compact:
        return f"{value / divisor:.3g}{unit.removesuffix('MACs')}"
    return f"{value / divisor:.3g} {unit}"


def format_value(value: Any, digits: int = 4) -> str:
    """A metric for a table cell: floats with ``digits`` significant digits, ``None`` as ``"-"``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)
