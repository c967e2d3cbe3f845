"""The analogue of ALTER's Table 3 (and Table 10) on the built-in digits.

At one MACs budget and one training budget, four ways to get temporal experts are compared over
several seeds, each evaluated beside the dense teacher with the same noise and sampler:

* ``static``   one expert for every timestep, masks learned jointly with fine-tuning;
* ``manual``   N experts on equal fixed timestep intervals (no router), learned jointly;
* ``two_stage``masks and router learned with the backbone frozen, then fine-tuning;
* ``alter``    ALTER: router and masks learned jointly with fine-tuning (single stage).

The sparsity sweep runs ALTER at several budgets (Table 10's analogue).

    python -m bench.ablation [--quick]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from alternas.api import train_alter
from alternas.config import RunConfig
from alternas.evaluation.baseline import measure_baseline

__all__ = ["METHODS", "ablation_config", "run_ablation", "run_sparsity_sweep"]

#: method name -> (experts section, train.schedule)
METHODS: dict[str, tuple[dict[str, Any], str]] = {
    "static": ({"count": 1, "routing": "static"}, "single_stage"),
    "manual": ({"count": 4, "routing": "manual"}, "single_stage"),
    "two_stage": ({"count": 4, "routing": "learned"}, "two_stage"),
    "alter": ({"count": 4, "routing": "learned"}, "single_stage"),
}
_REPORTED = ("fid", "accuracy", "psnr", "ssim", "macs_share", "experts_in_use", "routing_intervals_max",
             "budget_undershoot_max", "speedup")


def ablation_config(method: str, seed: int, budget: float, steps: int, num_samples: int) -> dict[str, Any]:
    """The run config of one ablation cell: same data, budget, steps and evaluation for all methods."""
    experts, schedule = METHODS[method]
    hypernet_steps = (2 * steps) // 3
    # equal backbone updates for every method: TwoStage's search phase freezes the backbone, so it
    # trains `hypernet_steps` iterations longer to fine-tune as often as the others
    total_steps = steps + hypernet_steps if schedule == "two_stage" else steps
    return {
        "model": {"backbone": "builtin:digits"},
        "experts": dict(experts),
        "budget": {"macs_share": budget},
        "train": {
            "steps": total_steps,
            "hypernet_steps": hypernet_steps,
            "schedule": schedule,
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


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def _run(config: dict[str, Any], workdir: Path, name: str) -> dict[str, Any]:
    """One training; its metrics plus ``budget_undershoot_max``: how far the hard MACs share fell
    below the scheduled target at worst, over the logged iterations that trained the hypernetwork."""
    result = train_alter(copy.deepcopy(config), run_dir=workdir / name)
    gaps = [row["macs_share_target"] - row["macs_share_hard"] for row in result.history if "macs_share_target" in row]
    return {**result.metrics.values(), "budget_undershoot_max": max(gaps, default=0.0)}


def run_ablation(
    seeds: list[int], budget: float, steps: int, num_samples: int, workdir: Path
) -> dict[str, Any]:
    """Every method x seed (the same seeds and evaluation noise for all); returns per-method mean/std of
    each metric, the per-seed FID difference to Static (paired), the dense teacher at the same 20 steps
    and the dense teacher at the step count of equal total generation MACs."""
    table: dict[str, Any] = {}
    teacher: dict[str, float] = {}
    static_fid: list[float] = []
    for method in METHODS:
        runs = [
            _run(ablation_config(method, seed, budget, steps, num_samples), workdir, f"{method}-seed{seed}")
            for seed in seeds
        ]
        table[method] = {key: _summary([float(run[key]) for run in runs]) for key in _REPORTED if key in runs[0]}
        fids = [float(run["fid"]) for run in runs]
        if method == "static":
            static_fid = fids
        else:
            table[method]["fid_minus_static"] = _summary([a - b for a, b in zip(fids, static_fid)])
        teacher = {k.removeprefix("teacher_"): float(v) for k, v in runs[0].items()
                   if k in ("teacher_fid", "teacher_accuracy")}
    dense_steps = max(1, round(20 * budget))
    config = RunConfig.model_validate(ablation_config("static", seeds[0], budget, steps, num_samples))
    (point,) = measure_baseline(config, [dense_steps])
    return {
        "budget_macs_share": budget,
        "train_steps": steps,
        "seeds": seeds,
        "num_samples": num_samples,
        "methods": table,
        "teacher": teacher,
        "dense_equal_macs": {"steps": dense_steps, **point.quality},
    }


def run_sparsity_sweep(budgets: list[float], steps: int, num_samples: int, workdir: Path) -> dict[str, Any]:
    """ALTER (4 learned experts, seed 0) at each budget."""
    rows = {}
    for budget in budgets:
        metrics = _run(ablation_config("alter", 0, budget, steps, num_samples), workdir, f"sweep-{budget}")
        rows[str(budget)] = {key: float(metrics[key]) for key in _REPORTED if key in metrics}
    return {"train_steps": steps, "num_samples": num_samples, "budgets": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed, 200 steps, 200 samples")
    parser.add_argument("--out", type=Path, default=None, help="keep the run dirs here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.out or Path(tmp)
        if args.quick:
            results = {
                "ablation": run_ablation([0], 0.5, 200, 200, workdir),
                "sparsity": run_sparsity_sweep([0.7, 0.5, 0.35], 200, 200, workdir),
            }
        else:
            results = {
                "ablation": run_ablation([0, 1, 2, 3, 4], 0.5, 600, 500, workdir),
                "sparsity": run_sparsity_sweep([0.8, 0.65, 0.5, 0.35], 600, 500, workdir),
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
