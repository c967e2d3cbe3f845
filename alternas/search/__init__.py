"""Search: Ray Tune trials sampled by Optuna over a recipe's space, with live progress and resume.

The entry point is :func:`search`, also reachable as ``alternas.search(...)``::

    import alternas

    result = alternas.search("recipes/quickstart.yaml")   # resume=True continues an interrupted one
    [record.trial_id for record in result.front]         # the quality / generation-MACs front
"""

import sys
import types

from .driver import SearchResult, search
from .objectives import Objectives
from .state import SearchState

__all__ = ["Objectives", "SearchResult", "SearchState", "search"]


class _CallablePackage(types.ModuleType):
    """``alternas.search`` is both this package and the function: importing a submodule binds the
    package to the name ``alternas.search``, so calling the package calls :func:`search`."""

    def __call__(self, *args, **kwargs) -> SearchResult:
        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
