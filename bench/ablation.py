"""The analogue of ALTER's Table 3 (and Table 10) on the built-in digits.

At one MACs budget and one training budget, five ways to get temporal experts are compared over
several seeds, each evaluated beside the dense teacher with the same noise and sampler:

* ``static``     one expert for every timestep, masks learned jointly with fine-tuning;
* ``manual``     N experts on equal fixed timestep intervals (no router), learned jointly;
* ``two_stage``  masks and router learned with the backbone frozen, then fine-tuning;
* ``alter``      ALTER: router and masks learned jointly with fine-tuning (single stage);
* ``alter_warm`` ALTER whose experts grow from one shared (static) expert halfway through the
  hypernetwork's iterations (``hypernet.warm_start_steps``).

Every method gets the same number of backbone updates, and the dense teacher is measured at the
step count of equal total generation MACs, with the methods' sampler (DDIM) and with every sampler
alternas offers (the best of them is the strongest free alternative; ``--dense-only`` measures just
these rows, which need no training). A longer cell trains Static and ALTER several times as
long (seed 0) to show the trend with training length. The sparsity sweep runs ALTER at several
budgets (Table 10's analogue).

Cells run in parallel worker processes (one torch thread each) and each finished cell is written to
``<out>/cells/<name>.json`` at once, so an interrupted run loses no finished cell and a rerun with the
same ``--out`` resumes where it stopped.

    python -m bench.ablation [--quick] [--seeds 0 1 2 3 4] [--steps 300] [--samples 300] [--workers 2]
                             [--long-factor 4] [--dense-only] [--out DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import statistics
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alternas._atomic import atomic_write_text
from alternas.api import train_alter
from alternas.config import RunConfig
from alternas.evaluation.dense_ladder import measure_baseline
from alternas.samplers import distinct_samplers

from .output import emit_json

__all__ = ["METHODS", "Method", "ablation_config", "dense_rows", "run_ablation", "run_sparsity_sweep"]


@dataclass(frozen=True)
class Method:
    """How one ablation row gets its experts.

    Attributes:
        experts: the run config's ``experts`` section.
        schedule: ``train.schedule`` (``single_stage`` or ``two_stage``).
        warm_start_share: share of the hypernetwork's iterations during which the experts are one
            shared expert (``hypernet.warm_start_steps``); 0 = independent from the start.
    """

    experts: dict[str, Any]
    schedule: str = "single_stage"
    warm_start_share: float = 0.0


METHODS: dict[str, Method] = {
    "static": Method({"count": 1, "routing": "static"}),
    "manual": Method({"count": 4, "routing": "manual"}),
    "two_stage": Method({"count": 4, "routing": "learned"}, schedule="two_stage"),
    "alter": Method({"count": 4, "routing": "learned"}),
    "alter_warm": Method({"count": 4, "routing": "learned"}, warm_start_share=0.5),
}
#: the methods of the longer-training cell
LONG_METHODS = ("static", "alter")
_REPORTED = ("fid", "accuracy", "psnr", "ssim", "macs_share", "experts_in_use", "routing_intervals_max",
             "budget_undershoot_max", "speedup")


def ablation_config(method: str, seed: int, budget: float, steps: int, num_samples: int) -> dict[str, Any]:
    """The run config of one ablation cell: same data, budget, steps and evaluation for all methods."""
    spec = METHODS[method]
    hypernet_steps = (2 * steps) // 3
    # equal backbone updates for every method: TwoStage's search phase freezes the backbone, so it
    # trains `hypernet_steps` iterations longer to fine-tune as often as the others
    total_steps = steps + hypernet_steps if spec.schedule == "two_stage" else steps
    return {
        "model": {"backbone": "builtin:digits"},
        "experts": dict(spec.experts),
        "budget": {"macs_share": budget},
        "hypernet": {"warm_start_steps": int(spec.warm_start_share * hypernet_steps)},
        "train": {
            "steps": total_steps,
            "hypernet_steps": hypernet_steps,
            "schedule": spec.schedule,
            "batch_size": 32,
            "lr": 1e-3,
            "hypernet_lr": 5e-3,
            "warmup_steps": 20,
            "hypernet_warmup_steps": 20,
            "seed": seed,
            "log_every": 5,  # the budget-undershoot check reads every logged iteration
        },
        "eval": {"scheduler": "ddim", "steps": 20, "num_samples": num_samples, "latency_repeats": 3},
    }


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def _one_thread() -> None:
    """Worker set-up: one torch thread per cell, so parallel cells do not oversubscribe the cores."""
    torch.set_num_threads(1)


def _train_cell(config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """One training; its metrics plus ``budget_undershoot_max``: how far the hard MACs share fell
    below the scheduled target at worst, over the logged iterations that trained the hypernetwork."""
    result = train_alter(copy.deepcopy(config), run_dir=run_dir)
    gaps = [row["macs_share_target"] - row["macs_share_hard"] for row in result.history if "macs_share_target" in row]
    return {**result.metrics.values(), "budget_undershoot_max": max(gaps, default=0.0)}


def run_cells(cells: dict[str, dict[str, Any]], workdir: Path, workers: int = 1) -> dict[str, dict[str, Any]]:
    """Train every named cell config (``workers`` at a time); returns each cell's metrics by name.

    A finished cell is saved to ``workdir/cells/<name>.json`` and reused by a later call with the same
    ``workdir`` when its config is unchanged, so an interrupted ablation resumes.
    """
    saved = workdir / "cells"
    saved.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for name, config in cells.items():
        path = saved / f"{name}.json"
        if path.is_file():
            record = json.loads(path.read_text())
            if record.get("config") == config:
                results[name] = record["metrics"]
    todo = {name: config for name, config in cells.items() if name not in results}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context, initializer=_one_thread) as pool:
        futures = {name: pool.submit(_train_cell, config, workdir / name) for name, config in todo.items()}
        for name, future in futures.items():
            metrics = future.result()
            atomic_write_text(saved / f"{name}.json", json.dumps({"config": todo[name], "metrics": metrics}))
            results[name] = metrics
            print(f"[ablation] {name}: fid {metrics['fid']:.2f}, macs share {metrics['macs_share']:.3f}", flush=True)
    return results


def _table(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per-method mean/std of each metric and the per-seed FID difference to Static (paired)."""
    table: dict[str, Any] = {}
    static_fid = [float(run["fid"]) for run in runs["static"]]
    for method, method_runs in runs.items():
        table[method] = {key: _summary([float(run[key]) for run in method_runs])
                         for key in _REPORTED if key in method_runs[0]}
        if method != "static":
            fids = [float(run["fid"]) for run in method_runs]
            table[method]["fid_minus_static"] = _summary([a - b for a, b in zip(fids, static_fid)])
    return table


def dense_rows(seed: int, budget: float, num_samples: int) -> dict[str, Any]:
    """The dense teacher at the step count of equal total generation MACs (``20 * budget`` steps), on the
    methods' evaluation noise (that of ``seed``'s cells): with the methods' sampler (``dense_equal_macs``),
    with each sampler alternas offers (``dense_samplers_equal_macs``) and the best of those by FID
    (``dense_best_sampler_equal_macs``)."""
    dense_steps = max(1, round(20 * budget))
    config = RunConfig.model_validate(ablation_config("static", seed, budget, 300, num_samples))  # no training
    points, _ = measure_baseline(config, [dense_steps], distinct_samplers())
    by_sampler = {point.sampler: {"steps": dense_steps, **point.quality} for point in points}
    best = min(by_sampler, key=lambda name: by_sampler[name]["fid"])
    return {
        "dense_equal_macs": by_sampler[config.eval.scheduler],
        "dense_samplers_equal_macs": by_sampler,
        "dense_best_sampler_equal_macs": {"sampler": best, **by_sampler[best]},
    }


def run_ablation(
    seeds: Sequence[int],
    budget: float,
    steps: int,
    num_samples: int,
    workdir: Path,
    workers: int = 1,
    long_factor: int = 0,
) -> dict[str, Any]:
    """Every method x seed (the same seeds and evaluation noise for all).

    Returns per-method mean/std of each metric, the per-seed FID difference to Static (paired), the
    dense teacher at the same 20 steps and the :func:`dense_rows` at equal total generation MACs, and with
    ``long_factor > 1`` the longer cell: Static and ALTER at ``long_factor * steps`` iterations, seed 0.
    """
    cells = {
        f"{method}-seed{seed}": ablation_config(method, seed, budget, steps, num_samples)
        for method in METHODS
        for seed in seeds
    }
    long_steps = long_factor * steps
    if long_factor > 1:
        cells.update({f"{method}-long{long_steps}-seed{seeds[0]}":
                      ablation_config(method, seeds[0], budget, long_steps, num_samples)
                      for method in LONG_METHODS})
    results = run_cells(cells, workdir, workers)
    runs = {method: [results[f"{method}-seed{seed}"] for seed in seeds] for method in METHODS}
    first = runs["static"][0]
    teacher = {key.removeprefix("teacher_"): float(first[key]) for key in ("teacher_fid", "teacher_accuracy")
               if key in first}
    document: dict[str, Any] = {
        "budget_macs_share": budget,
        "train_steps": steps,
        "seeds": list(seeds),
        "num_samples": num_samples,
        "methods": _table(runs),
        "teacher": teacher,
        **dense_rows(seeds[0], budget, num_samples),
    }
    if long_factor > 1:
        document["long"] = {
            "train_steps": long_steps,
            "seed": seeds[0],
            "methods": {method: {key: float(results[f"{method}-long{long_steps}-seed{seeds[0]}"][key])
                                 for key in _REPORTED if key in first}
                        for method in LONG_METHODS},
        }
    return document


def run_sparsity_sweep(
    budgets: Sequence[float], steps: int, num_samples: int, workdir: Path, workers: int = 1
) -> dict[str, Any]:
    """ALTER (4 learned experts, seed 0) at each budget."""
    cells = {f"sweep-{budget}": ablation_config("alter", 0, budget, steps, num_samples) for budget in budgets}
    results = run_cells(cells, workdir, workers)
    rows = {str(budget): {key: float(results[f"sweep-{budget}"][key]) for key in _REPORTED
                          if key in results[f"sweep-{budget}"]} for budget in budgets}
    return {"train_steps": steps, "num_samples": num_samples, "budgets": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed, 200 steps, 200 samples, no longer cell")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--budget", type=float, default=0.5, help="MACs share per step (default 0.5)")
    parser.add_argument("--steps", type=int, default=300, help="training iterations per cell")
    parser.add_argument("--samples", type=int, default=300, help="evaluation samples per cell")
    parser.add_argument("--workers", type=int, default=2, help="cells trained at once (one thread each)")
    parser.add_argument("--long-factor", type=int, default=4, help="the longer cell trains this many times longer")
    parser.add_argument("--dense-only", action="store_true", help="only the dense rows (no training)")
    parser.add_argument("--sweep", type=float, nargs="*", default=[], help="also run ALTER at these budgets")
    parser.add_argument("--out", type=Path, default=None, help="keep the run dirs (and resume) here")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps, args.samples, args.long_factor = [0], 200, 200, 0
    if args.dense_only:
        command = " ".join(["python -m bench.ablation", *sys.argv[1:]])
        emit_json({"command": command, "ablation": dense_rows(args.seeds[0], args.budget, args.samples)}, args.json)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.out or Path(tmp)
        results: dict[str, Any] = {
            "command": " ".join(["python -m bench.ablation", *sys.argv[1:]]),
            "ablation": run_ablation(args.seeds, args.budget, args.steps, args.samples, workdir, args.workers,
                                     args.long_factor),
        }
        if args.sweep:
            results["sparsity"] = run_sparsity_sweep(args.sweep, args.steps, args.samples, workdir, args.workers)
    emit_json(results, args.json)


if __name__ == "__main__":
    main()
