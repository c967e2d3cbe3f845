"""How much of a search's spread is training noise: the same configuration trained with other seeds.

A search gives each trial the training seed ``search.seed`` + its trial number, and the quickstart starts
every search with the same four initial points, so ``python -m bench.search --seeds ...`` results hold the
same configurations trained with different seeds. Training is deterministic, so two trials with the same
configuration *and* seed (a later search seed meeting an earlier one's trial) end with bitwise the same
quality; such repeats are counted once.

Trials are grouped by their budget level (``--level``, the recipe's total-MACs budget: trials of one
level have the same generation MACs to within 1%, so the front compares their quality directly). Per
level it reports the spread of quality over all trials, the spread within configurations (pooled
variance of the configurations seen with at least two seeds), and the share of the variance the
configuration explains, ``1 - within / total`` (0 when the within-configuration variance is the larger).
A share near 0 means picking a configuration at a level is mostly a draw of the training seed, which no
early look at the configuration can predict.

    python -m bench.spread FILE [FILE ...] [--level budget.generation_share] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .output import emit_json

__all__ = ["distinct_trials", "quality_spread"]


def distinct_trials(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The finished trials of ``bench.search`` results, a repeated (configuration, quality) pair once.

    Args:
        results: parsed ``bench.search`` outputs, one search each or ``{"seeds": {seed: search}}``.

    Returns:
        ``{"params", "quality"}`` of each distinct finished trial.
    """
    trials, seen = [], set()
    for result in results:
        searches = result["seeds"].values() if "seeds" in result else [result]
        for search in searches:
            for trial in search["outcome"]["trials"]:
                key = (json.dumps(trial["params"], sort_keys=True), trial["quality"])
                if key not in seen:
                    seen.add(key)
                    trials.append({"params": trial["params"], "quality": trial["quality"]})
    return trials


def quality_spread(trials: Sequence[Mapping[str, Any]], level: str) -> dict[str, Any]:
    """Spread of quality per budget level: over all trials, and within configurations seen with 2+ seeds.

    Args:
        trials: ``{"params", "quality"}`` per trial (see :func:`distinct_trials`).
        level: the parameter that sets a trial's budget level (e.g. ``budget.generation_share``).

    Returns:
        ``levels``: per level value, the trial count, mean and standard deviation of quality, the pooled
        within-configuration standard deviation with its degrees of freedom, and the share of variance
        the configuration explains (``None`` where a level has no repeated configuration).
        ``configurations``: each repeated configuration with its draws, mean and standard deviation.
    """
    by_level: dict[Any, list[float]] = defaultdict(list)
    by_config: dict[str, list[float]] = defaultdict(list)
    for trial in trials:
        by_level[trial["params"][level]].append(trial["quality"])
        by_config[json.dumps(trial["params"], sort_keys=True)].append(trial["quality"])
    repeated = {config: values for config, values in by_config.items() if len(values) > 1}
    levels = {}
    for value, qualities in sorted(by_level.items()):
        groups = [values for config, values in repeated.items() if json.loads(config)[level] == value]
        dof = sum(len(values) - 1 for values in groups)
        total = statistics.variance(qualities) if len(qualities) > 1 else None
        within = sum((len(values) - 1) * statistics.variance(values) for values in groups) / dof if dof else None
        levels[str(value)] = {
            "trials": len(qualities),
            "mean": statistics.fmean(qualities),
            "sd": total**0.5 if total is not None else None,
            "within_config_sd": within**0.5 if within is not None else None,
            "within_config_dof": dof,
            "explained_by_config": max(0.0, 1 - within / total) if within is not None and total else None,
        }
    configurations = [
        {"params": json.loads(config), "draws": len(values), "mean": statistics.fmean(values),
         "sd": statistics.stdev(values)}
        for config, values in sorted(repeated.items(), key=lambda item: -len(item[1]))
    ]
    return {"level": level, "levels": levels, "configurations": configurations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", type=Path, nargs="+", help="bench.search JSON results (--seeds or not)")
    parser.add_argument("--level", default="budget.generation_share", help="the parameter of the budget level")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args()
    trials = distinct_trials(json.loads(path.read_text()) for path in args.files)
    emit_json({"files": [str(path) for path in args.files], **quality_spread(trials, args.level)}, args.json)


if __name__ == "__main__":
    main()
