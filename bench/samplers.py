"""The dense teacher under every offered sampler: FID at few steps against dense DDIM at 50 steps.

The strongest thing a user gets for free is the dense teacher with a well set-up sampler at fewer
steps. This scores the shipped digits teacher with each sampler of :data:`alternas.samplers.SAMPLERS`
(``ddpm`` excluded: ancestral sampling needs hundreds of steps; an alias once) at a ladder of step counts, on
``--samples`` images with the recipe's evaluation noise, through the same code as a search's baseline
(:func:`alternas.evaluation.dense_ladder.measure_baseline`, cached per setting), and gives each FID as a
ratio to dense DDIM at 50 steps.

    python -m bench.samplers [--steps 3 4 5 6 7 10] [--samples 1000] [--json FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alternas.evaluation.dense_ladder import measure_baseline
from alternas.recipe import load_recipe, resolve_trial
from alternas.samplers import distinct_samplers

from .output import emit_json
from .search import QUICKSTART

__all__ = ["bench_samplers"]

#: the reference every sampler is judged against
REFERENCE = ("ddim", 50)


def bench_samplers(
    steps: list[int], samples: int = 1000, recipe_file: Path = QUICKSTART, samplers: list[str] | None = None
) -> dict[str, Any]:
    """FID of the recipe's dense teacher for each sampler and step count, and dense DDIM @ 50.

    Returns:
        ``fid[sampler][steps]``, the reference FID, ``ratio[sampler][steps]`` (FID over the reference's)
        and the best sampler at each step count.
    """
    recipe = load_recipe(recipe_file)
    run = resolve_trial(recipe, recipe.search.initial_points[0], seed=recipe.search.seed).run
    names = samplers or distinct_samplers()

    config = run.model_copy(
        update={"eval": run.eval.model_copy(update={"num_samples": samples, "metrics": ["fid"], "latency_repeats": 1})}
    )
    (reference_point,), _ = measure_baseline(config, [REFERENCE[1]], [REFERENCE[0]])
    reference = reference_point.quality["fid"]
    fid: dict[str, dict[int, float]] = {name: {} for name in names}
    for point in measure_baseline(config, steps, names)[0]:
        fid[point.sampler][point.steps] = point.quality["fid"]
    return {
        "recipe": str(recipe_file),
        "samples": samples,
        "steps": steps,
        "reference": {"sampler": REFERENCE[0], "steps": REFERENCE[1], "fid": reference},
        "fid": {name: {str(k): v for k, v in values.items()} for name, values in fid.items()},
        "ratio": {name: {str(k): v / reference for k, v in values.items()} for name, values in fid.items()},
        "best": {str(k): min(names, key=lambda name: fid[name][k]) for k in steps},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[3, 4, 5, 6, 7, 10])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--sampler", action="append", default=None, help="only these samplers (repeatable)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args()
    emit_json(bench_samplers(args.steps, args.samples, samplers=args.sampler), args.json)


if __name__ == "__main__":
    main()
