"""Search orchestration overhead: a real search of a recipe through Ray Tune, timed against its trials.

The recipe (the quickstart by default) runs into a fresh run directory with the digits teacher
already cached. Each trial's compute is the time between its start and end in its trial record
(model set-up, training, evaluation, writing its files). With ``S = max_concurrent_trials`` trial
slots open for the search's wall time ``W`` (Ray start, scheduling, checkpoints, driver bookkeeping
and shut-down included), the overhead is the share of slot time not spent in trials::

    overhead = (S * W - sum of trial compute) / (S * W)

which is the issue's ``(W - sum of trial compute) / W`` with the trials' compute spread over the
slots that ran them concurrently. The report written at the end is timed separately, and what it
concludes is kept: the winner and how it was picked (by the recipe's rule, or by its fallback), the
dense step-count front, and each trial beside it.

With ``--seeds`` the search runs once per ``search.seed`` (everything else as in the recipe), one
after the other, so the spread of the quickstart's outcome over search seeds is measured in one go;
``--sampler`` replaces ``search.sampler`` (e.g. ``gp`` against ``nsga2`` at equal trial counts; with
``--startup-trials`` fewer than the trials, so that the model proposes some) and
``--confirm TOP_K SEEDS`` sets ``report.confirm``. The outcome includes, with confirmation, the confirmed
configurations and winner, and two
hypervolumes in (dense steps, quality) space inside the box up to (:data:`HYPERVOLUME_DENSE_STEPS` dense
steps, the quality of the cheapest dense baseline point): of the search's front, and of the confirmed
configurations' means.

    python -m bench.search [--trials N] [--seeds 0 1 2] [--sampler gp] [--startup-trials 4] [--confirm 2 2]
        [--out DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console

from alternas.config import ConfirmConfig
from alternas.recipe import load_recipe
from alternas.report import Report, write_report
from alternas.rundir import TrialRecord
from alternas.search import search

from .output import emit_json

__all__ = ["HYPERVOLUME_DENSE_STEPS", "QUICKSTART", "bench_search", "hypervolume", "overhead_breakdown", "report_outcome"]

QUICKSTART = Path(__file__).resolve().parent.parent / "recipes" / "quickstart.yaml"
#: the cost side of the hypervolume box, in dense steps: the quickstart's largest budget (5) plus 20%
HYPERVOLUME_DENSE_STEPS = 6.0


def bench_search(
    out_dir: str | Path,
    recipe_file: str | Path = QUICKSTART,
    num_trials: int | None = None,
    search_updates: Mapping[str, Any] | None = None,
    confirm: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Run the recipe's search into ``out_dir`` (started afresh) and measure its overhead.

    Args:
        out_dir: the run directory (replaced if it exists).
        recipe_file: the recipe to run.
        num_trials: override the recipe's ``search.num_trials`` (``None``: the recipe's).
        search_updates: other ``search`` settings to override (e.g. ``{"scheduler": "mo_asha"}``).
        confirm: ``(top_k, seeds)``: set ``report.confirm`` (``None``: the recipe's).

    Returns:
        Wall time, per-trial compute, overhead share, the front and the report's time.
    """
    recipe = load_recipe(recipe_file)
    updates = {**(search_updates or {}), **({"num_trials": num_trials} if num_trials is not None else {})}
    search_settings = recipe.search.model_validate({**recipe.search.model_dump(), **updates})
    report = recipe.report
    if confirm is not None:
        report = report.model_copy(update={"confirm": ConfirmConfig(top_k=confirm[0], seeds=confirm[1])})
    recipe = recipe.model_copy(update={"output_dir": str(out_dir), "search": search_settings, "report": report})
    load_before = os.getloadavg()
    started = time.perf_counter()
    result = search(recipe, overwrite=True, console=Console(quiet=True))
    driver_seconds = time.perf_counter() - started
    report_started = time.perf_counter()
    report = write_report(result.run_dir)
    report_seconds = time.perf_counter() - report_started

    finished = [r for r in result.records if r.status == "finished"]
    timed = [r for r in finished if r.started_at and r.finished_at]
    compute = {r.trial_id: r.finished_at - r.started_at for r in timed}
    slots = search_settings.max_concurrent_trials
    wall = result.state.wall_seconds
    return {
        "recipe": str(recipe_file),
        "planned_trials": recipe.planned_trials(),
        "finished_trials": len(finished),
        "failed_trials": sum(r.status == "failed" for r in result.records),
        "stopped_trials": sum(r.status == "stopped" for r in result.records),
        "max_concurrent_trials": slots,
        "cpus_per_trial": search_settings.cpus_per_trial,
        "search_wall_s": wall,
        "driver_wall_s": driver_seconds,
        "report_s": report_seconds,
        "trial_compute_s": compute,
        "sum_trial_compute_s": sum(compute.values()),
        "overhead_share": (slots * wall - sum(compute.values())) / (slots * wall),
        "overhead_slot_s": overhead_breakdown(timed, slots, result.state.updated_at - wall, result.state.updated_at),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "finished": [
            {"trial_id": r.trial_id, "fid": r.metrics.fid, "generation_macs": r.metrics.generation_macs}
            for r in finished
        ],
        "front": [
            {
                "trial_id": r.trial_id,
                "params": r.params,
                "fid": r.metrics.fid,
                "accuracy": r.metrics.accuracy,
                "generation_macs": r.metrics.generation_macs,
                "macs_share": r.metrics.macs_share,
                "teacher_fid": r.metrics.teacher_fid,
            }
            for r in result.front
        ],
        "outcome": report_outcome(report),
        "run_dir": str(result.run_dir),
    }


def hypervolume(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` (both coordinates lower is better) inside the box up to ``reference``."""
    area, best_y = 0.0, reference[1]
    for x, y in sorted(p for p in points if p[0] < reference[0] and p[1] < reference[1]):
        if y < best_y:
            area += (reference[0] - x) * (best_y - y)
            best_y = y
    return area


def report_outcome(report: Report) -> dict[str, Any]:
    """What a search's report concludes: the winner and whether the recipe's rule picked it (``qualified``)
    or the fallback did, the dense step-count points, every finished trial beside that front, and how
    many feasible ones lie beyond it (lower quality value at no more generation MACs)."""
    data = report.to_dict()
    baseline = data["baseline"] or {"points": []}
    finished = [trial for trial in data["trials"] if trial["status"] == "finished"]
    keys = ("trial_id", "role", "feasible", "beyond_baseline", "baseline", "params", "quality", "generation_macs")
    step = data["dense_step_macs"]
    cheapest = min(baseline["points"], key=lambda p: p["generation_macs"], default=None)
    reference = (HYPERVOLUME_DENSE_STEPS, cheapest["quality"]) if cheapest else None
    front = [(t["dense_steps"], t["quality"]) for t in finished if t["trial_id"] in data["front"]]
    confirmed = [
        {"trial_id": c["trial_id"], "quality": c["quality"], "versus_dense": c["versus_dense"],
         "dense_steps": sum(r["generation_macs"] for r in runs) / len(runs) / step,
         "runs": c["runs"]}
        for c in data["confirmed"]
        for runs in [[t for t in data["confirmations"] if t["confirms"] == c["trial_id"] and t["generation_macs"]]]
        if runs
    ]
    return {
        "winner": data["winner"],
        "dense": {f"{p['sampler']}@{p['steps']}": {"fid": p["quality"], "interval": p.get("interval"),
                                                   "generation_macs": p["generation_macs"]}
                  for p in baseline["points"]},
        "trials": [{key: trial.get(key) for key in (*keys, "dense_steps", "interval", "versus_dense")} for trial in finished],
        "beyond_dense_front": sum(bool(trial["beyond_baseline"] and trial["feasible"]) for trial in finished),
        "confirmed": confirmed,
        "hypervolume_reference": reference,
        "front_hypervolume": hypervolume(front, reference) if reference else None,
        "confirmed_hypervolume": hypervolume([(c["dense_steps"], c["quality"]["value"]) for c in confirmed], reference)
        if reference and confirmed else None,
        "reproducibility": data["reproducibility"],
    }


def overhead_breakdown(
    trials: list[TrialRecord], slots: int, wall_start: float, wall_end: float
) -> dict[str, float]:
    """Split a one-session search's overhead ``S * W - sum of trial compute`` into slot-seconds.

    Args:
        trials: the trials whose compute counts, with their ``started_at`` / ``finished_at`` (UNIX s).
        slots: ``S``, the trial slots (``search.max_concurrent_trials``).
        wall_start, wall_end: when the search's wall time ``W`` began (just before Ray starts) and ended
            (after Ray shut down), UNIX seconds.

    Returns:
        ``startup``: ``S x`` (first trial start - wall start): Ray and Tune starting, the trial worker
        processes starting and importing torch, diffusers and alternas. ``shutdown``: ``S x`` (wall end -
        last trial end): Tune's last results and state, Ray shutting down. ``between_trials``: idle slots
        from the first start to the last end: hand-overs from one trial to the next, and the tail where
        fewer trials than slots are left. The three add up to the overhead.
    """
    first = min(trial.started_at for trial in trials)
    last = max(trial.finished_at for trial in trials)
    busy = sum(trial.finished_at - trial.started_at for trial in trials)
    return {
        "startup": slots * (first - wall_start),
        "shutdown": slots * (wall_end - last),
        "between_trials": slots * (last - first) - busy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=QUICKSTART)
    parser.add_argument("--trials", type=int, default=None, help="override search.num_trials")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="run once per search.seed (default: the recipe's seed only)")
    parser.add_argument("--out", type=Path, default=None, help="run directory (default: a temporary one); "
                        "with --seeds, the folder of one run directory per seed")
    parser.add_argument("--sampler", default=None, help="override search.sampler (e.g. gp, nsga2)")
    parser.add_argument("--startup-trials", type=int, default=None,
                        help="override search.startup_trials (tpe, gp: trials before the model is used)")
    parser.add_argument("--confirm", type=int, nargs=2, default=None, metavar=("TOP_K", "SEEDS"),
                        help="set report.confirm: confirm the best TOP_K trials with SEEDS new seeds each")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args()
    sampler = {"sampler": args.sampler} if args.sampler else {}
    if args.startup_trials is not None:
        sampler["startup_trials"] = args.startup_trials
    with tempfile.TemporaryDirectory() as work:
        out = args.out or Path(work) / "search"
        if args.seeds is None:
            result = bench_search(out, args.recipe, args.trials, sampler, args.confirm)
        else:
            result = {"seeds": {
                str(seed): bench_search(out / f"seed{seed}", args.recipe, args.trials, {**sampler, "seed": seed},
                                        args.confirm)
                for seed in args.seeds
            }}
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
