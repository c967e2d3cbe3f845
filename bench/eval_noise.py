"""Evaluation noise of a paired FID difference, by evaluation sample count: measured over independent
evaluation-noise seeds, beside the estimate the report makes from one evaluation.

A report judges a trial by the FID difference with a dense point on the same evaluation images. Two things
are measured here for each sample count ``N``:

* the *true* evaluation-noise sd of that difference: the sd over ``--noise-seeds`` independent evaluation
  noises (other initial noise, same models);
* the report's estimate of it from one evaluation: the paired standard error from each image's influence
  (:func:`alternas.quality.paired_interval`), averaged over the seeds.

Pairs: the quickstart's dense teacher with UniPC at 5 against 6 steps (two fixed models a step apart), and,
with ``--run-dir``, each ``--trial`` of a finished search against the dense point its report compares it
with (a trained, pruned model against the dense front).

    python -m bench.eval_noise [--samples 200 1000 2000] [--noise-seeds 0 1 2 3 4 5]
        [--run-dir reports/quickstart --trial ID ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import torch

from alternas._readers import read_model
from alternas.backbones import adapter_for
from alternas.config import RunConfig
from alternas.evaluation.evaluate import generate_for_eval, quality_scores
from alternas.evaluation.reference import evaluation_inputs
from alternas.evaluation.sampling import Predictor, dense_predictor
from alternas.export import routed_from_plan
from alternas.plan import ExpertPlan
from alternas.quality import SampleScores, paired_interval
from alternas.recipe import load_recipe, resolve_trial
from alternas.report import build_report
from alternas.rundir import RUN_FILES, SearchRunDir
from alternas.sources import load_bundle

from .output import emit_json
from .search import QUICKSTART

__all__ = ["bench_eval_noise"]

#: a model to score: (predictor, sampler, steps)
_Scored = tuple[Predictor, str, int]


def _scores(model: _Scored, config: RunConfig, samples: int, seed: int) -> SampleScores:
    """The model's per-image FID scores on ``samples`` images of evaluation-noise ``seed``."""
    predict, sampler, steps = model
    eval_config = config.eval.model_copy(
        update={"num_samples": samples, "seed": seed, "metrics": ["fid"], "scheduler": sampler, "steps": steps}
    )
    run = config.model_copy(update={"eval": eval_config})
    bundle = load_bundle(config.model)
    inputs = evaluation_inputs(bundle, run, bundle.sample_shape(config.data.resolution), torch.device("cpu"))
    images = generate_for_eval(predict, bundle, eval_config, inputs.noise, inputs.conditions)
    return quality_scores(inputs.metrics, images, inputs.conditions).samples["fid"]


def _pair_noise(pair: tuple[_Scored, _Scored], config: RunConfig, samples: list[int], seeds: list[int]) -> dict[str, Any]:
    """For each sample count: the difference's mean and sd over seeds, and the mean estimated sd."""
    rows = {}
    for count in samples:
        differences, estimated = [], []
        for seed in seeds:
            one, other = (_scores(model, config, count, seed) for model in pair)
            paired = paired_interval(one, other)
            differences.append(paired.value)
            estimated.append(paired.sd)
        rows[str(count)] = {
            "differences": differences,
            "mean_difference": statistics.fmean(differences),
            "sd_over_noise_seeds": statistics.stdev(differences),
            "mean_estimated_sd": statistics.fmean(estimated),
        }
    return rows


def bench_eval_noise(
    samples: list[int], seeds: list[int], run_dir: Path | None = None, trials: list[str] | None = None,
    recipe_file: Path = QUICKSTART,
) -> dict[str, Any]:
    """The evaluation noise of paired FID differences at each sample count (see the module docstring)."""
    recipe = load_recipe(recipe_file)
    config = resolve_trial(recipe, recipe.search.initial_points[0], seed=recipe.search.seed).run
    config = config.model_copy(update={"train": config.train.model_copy(update={"threads": None})})
    teacher = dense_predictor(adapter_for(load_bundle(config.model).backbone.eval()))
    pairs = {"dense unipc @ 5 - dense unipc @ 6": ((teacher, "unipc", 5), (teacher, "unipc", 6))}
    if run_dir is not None:
        report = build_report(run_dir)
        layout = SearchRunDir(run_dir)
        for trial_id in trials or report.front:
            entry = report.entry(trial_id)
            folder = layout.trial_dir(trial_id)
            trial_config = read_model(folder / RUN_FILES["config"], RunConfig)
            plan = ExpertPlan.load(folder / RUN_FILES["plan"])
            model = dense_predictor(adapter_for(routed_from_plan(folder / RUN_FILES["backbone"], plan).eval()))
            point = entry.compared_with
            if point is None:
                continue
            pairs[f"trial {trial_id} - {report.baseline.label(point)}"] = (
                (model, trial_config.eval.scheduler, trial_config.eval.steps), (teacher, point.sampler, point.steps)
            )
    with torch.no_grad():
        return {
            "recipe": str(recipe_file),
            "run_dir": None if run_dir is None else str(run_dir),
            "noise_seeds": seeds,
            "pairs": {name: _pair_noise(pair, config, samples, seeds) for name, pair in pairs.items()},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[200, 1000, 2000])
    parser.add_argument("--noise-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--run-dir", type=Path, default=None, help="a finished search whose trials to pair too")
    parser.add_argument("--trial", action="append", default=None, help="trial id (repeatable; default: the front)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args()
    emit_json(bench_eval_noise(args.samples, args.noise_seeds, args.run_dir, args.trial), args.json)


if __name__ == "__main__":
    main()
