"""Search: Ray Tune trials sampled by Optuna over a recipe's space, with live progress and resume.

The entry point is :func:`search`, also reachable as ``alternas.run_search(...)``::

    import alternas

    result = alternas.run_search("recipes/quickstart.yaml")   # resume=True continues an interrupted one
    [record.trial_id for record in result.front]         # the quality / generation-MACs front
"""

from .driver import SearchResult, search
from .objectives import Objectives
from .state import SearchState

__all__ = ["Objectives", "SearchResult", "SearchState", "search"]

