"""Successive halving against full training at equal wall time: the quickstart's fronts and hypervolumes.

For each seed the recipe's search runs twice with the same ``search.time_limit_s`` and trial count
(more trials than the time allows, so both use the whole time): once with every trial trained to the
end (``scheduler: fifo``) and once with multi-objective successive halving (``scheduler: mo_asha``).
The quality of a run is the hypervolume its front (feasible finished trials, FID vs total generation
MACs, both lower is better) dominates up to a common reference point: the worst FID and the largest
MACs of every finished trial of all runs, 5% beyond. A ratio above 1 means successive halving found
the better front in the same time. The result also states the conditions: the successive-halving
settings, the machine's cores and its load average before and after the runs.

``--mo-asha-recipe`` gives successive halving its own recipe, e.g. the quickstart with twice the
training iterations: then the time the stopped trials leave buys longer training for the ones that
continue, while full training keeps the quickstart's length.

    python -m bench.schedulers [--seeds 0 1] [--time-limit 300] [--trials 16] [--out DIR]
                               [--rungs 0.5] [--rung-samples 64] [--reduction-factor 2]
                               [--recipe FILE] [--mo-asha-recipe FILE]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alternas.recipe import load_recipe

from .output import emit_json
from .search import QUICKSTART, bench_search, hypervolume

__all__ = ["compare_schedulers", "hypervolume"]

SCHEDULERS = ("fifo", "mo_asha")


def compare_schedulers(
    out_dir: Path,
    seeds: Sequence[int],
    time_limit_s: float,
    num_trials: int,
    recipe_file: Path = QUICKSTART,
    mo_asha: Mapping[str, Any] | None = None,
    mo_asha_recipe: Path | None = None,
) -> dict[str, Any]:
    """Run both schedulers for each seed at ``time_limit_s``; fronts, trial counts and hypervolume ratios.

    Args:
        out_dir: folder of the run directories, one per scheduler and seed.
        seeds: ``search.seed`` of each pair of runs.
        time_limit_s: ``search.time_limit_s`` of every run, seconds.
        num_trials: ``search.num_trials`` of every run.
        recipe_file: the recipe.
        mo_asha: ``search`` settings that override the recipe's (``rungs``, ``rung_samples``,
            ``reduction_factor``); both schedulers run with them, only mo_asha reads them.
        mo_asha_recipe: the recipe of the mo_asha runs (``None``: ``recipe_file``).
    """
    recipes = {"fifo": recipe_file, "mo_asha": mo_asha_recipe or recipe_file}
    load_before = os.getloadavg()
    runs: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        for scheduler in SCHEDULERS:
            updates = {**(mo_asha or {}), "scheduler": scheduler, "seed": seed, "time_limit_s": time_limit_s}
            runs[f"{scheduler}-seed{seed}"] = bench_search(
                out_dir / f"{scheduler}-{seed}", recipes[scheduler], num_trials, updates
            )
    finished = [
        (t["generation_macs"], t["fid"]) for run in runs.values() for t in run["finished"] if t["fid"] is not None
    ]
    reference = (max(x for x, _ in finished) * 1.05, max(y for _, y in finished) * 1.05)
    per_seed = {}
    for seed in seeds:
        volumes = {
            scheduler: hypervolume(
                [(t["generation_macs"], t["fid"]) for t in runs[f"{scheduler}-seed{seed}"]["front"]], reference
            )
            for scheduler in SCHEDULERS
        }
        per_seed[seed] = {
            "hypervolume": volumes,
            "ratio_mo_asha_over_fifo": volumes["mo_asha"] / volumes["fifo"] if volumes["fifo"] else None,
            "fronts": {s: runs[f"{s}-seed{seed}"]["front"] for s in SCHEDULERS},
            "trials": {
                s: {k: runs[f"{s}-seed{seed}"][k] for k in ("finished_trials", "stopped_trials", "failed_trials")}
                for s in SCHEDULERS
            },
            "finished": {s: runs[f"{s}-seed{seed}"]["finished"] for s in SCHEDULERS},
        }
    settings = load_recipe(recipes["mo_asha"]).search.model_copy(update=dict(mo_asha or {}))
    return {
        "recipes": {scheduler: str(path) for scheduler, path in recipes.items()},
        "time_limit_s": time_limit_s,
        "num_trials": num_trials,
        "mo_asha": {
            "rungs": settings.rungs,
            "rung_samples": settings.rung_samples,
            "reduction_factor": settings.reduction_factor,
        },
        "conditions": {"cpu_count": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "reference": reference,
        "seeds": per_seed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=QUICKSTART)
    parser.add_argument("--mo-asha-recipe", type=Path, default=None, help="the mo_asha runs' recipe (default: --recipe)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--time-limit", type=float, default=300.0, help="search.time_limit_s of every run")
    parser.add_argument("--trials", type=int, default=16, help="search.num_trials of every run")
    parser.add_argument("--out", type=Path, default=None, help="folder of the run directories (default: temporary)")
    parser.add_argument("--rungs", type=float, nargs="+", default=None, help="search.rungs (default: the recipe's)")
    parser.add_argument("--rung-samples", type=int, default=None, help="search.rung_samples (default: the recipe's)")
    parser.add_argument(
        "--reduction-factor", type=int, default=None, help="search.reduction_factor (default: the recipe's)"
    )
    args = parser.parse_args()
    overrides = {"rungs": args.rungs, "rung_samples": args.rung_samples, "reduction_factor": args.reduction_factor}
    mo_asha = {key: value for key, value in overrides.items() if value is not None}
    with tempfile.TemporaryDirectory() as work:
        result = compare_schedulers(
            args.out or Path(work), args.seeds, args.time_limit, args.trials, args.recipe, mo_asha,
            args.mo_asha_recipe,
        )
    emit_json(result, None)


if __name__ == "__main__":
    main()
