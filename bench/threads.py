"""Would a search's idle core pay in its tail? One quickstart trial at 1 and at 2 torch threads.

At the end of a search on ``S`` slots the last trial runs while the other slots have nothing left to
start, so their cores idle (the tail counted in ``bench.search``'s overhead). Giving such a core to the
last trial can at best shorten the tail by the trial's speed-up from the extra thread. This measures
that speed-up on the trial the quickstart starts with (its first initial point, full training and
evaluation), alternating the thread counts in one process so machine noise hits both alike, and says
whether the trial's metrics stay bitwise the same (a search's results are reproducible only if so).

    python -m bench.threads [--repeats 2] [--threads 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from alternas.api import train_alter
from alternas.metrics import TIMING_FIELDS
from alternas.recipe import load_recipe, resolve_trial

from .output import emit_json
from .search import QUICKSTART

__all__ = ["bench_threads"]


def bench_threads(repeats: int = 2, threads: int = 2, recipe_file: Path = QUICKSTART) -> dict[str, Any]:
    """Time the recipe's first initial point at 1 and at ``threads`` torch threads, ``repeats`` times each.

    Returns:
        The trial's parameters, each run's seconds, the medians, the speed-up (median at 1 thread over
        median at ``threads``), the largest tail share the extra threads could remove (``1 - 1 / speed-up``)
        and whether every metric but the timings is bitwise equal across thread counts.
    """
    recipe = load_recipe(recipe_file)
    trial = resolve_trial(recipe, recipe.search.initial_points[0], seed=recipe.search.seed)
    seconds: dict[int, list[float]] = {1: [], threads: []}
    metrics: dict[int, dict[str, Any]] = {}
    for _ in range(repeats):
        for count in (1, threads):
            config = trial.run.model_copy(update={"train": trial.run.train.model_copy(update={"threads": count})})
            started = time.perf_counter()
            result = train_alter(config)
            seconds[count].append(time.perf_counter() - started)
            metrics[count] = result.metrics.model_dump(exclude=set(TIMING_FIELDS))
    median = {count: statistics.median(values) for count, values in seconds.items()}
    speedup = median[1] / median[threads]
    return {
        "recipe": str(recipe_file),
        "params": trial.params,
        "threads": threads,
        "seconds": {str(count): values for count, values in seconds.items()},
        "median_s": {str(count): value for count, value in median.items()},
        "speedup": speedup,
        "max_tail_cut": 1 - 1 / speedup,
        "metrics_equal": metrics[1] == metrics[threads],
        "fid": {str(count): values["fid"] for count, values in metrics.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="the thread count compared with 1")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args()
    emit_json(bench_threads(args.repeats, args.threads), args.json)


if __name__ == "__main__":
    main()
