"""Search: Ray Tune trials sampled by Optuna over a recipe's space, with live progress and resume.

The entry point is :func:`search`, also reachable as ``alternas.run_search(...)``::

    import alternas

    result = alternas.run_search("recipes/quickstart.yaml")   # resume=True continues an interrupted one
    [record.trial_id for record in result.front]         # the quality / generation-MACs front
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ConfirmationResult", "Objectives", "SearchResult", "SearchState", "confirm_search", "search"]

#: public names imported on first use, so that a trial worker importing :mod:`.trainable` does not
#: import the driver, the searcher (Optuna) or the report: name -> submodule
_LAZY = {
    "ConfirmationResult": "confirmation",
    "Objectives": "objectives",
    "SearchResult": "driver",
    "SearchState": "state",
    "confirm_search": "confirmation",
    "search": "driver",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

