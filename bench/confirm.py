"""Confirm that searched trials lie beyond the best free baseline: retrain each with new training seeds
and score it, paired with the best dense point at no more MACs, on more samples and several
evaluation-noise seeds.

A search scores each trial once, on one training seed and ``eval.num_samples`` images of one noise, so
a trial "beyond the baseline" may be a lucky draw of either. For each trial this retrains its exact run
config with ``--train-seeds`` (the search's own weights are scored too), and scores every model and the
dense teacher on ``--samples`` images of each ``--eval-seeds`` noise. The dense reference is the best,
on those same images, of each sampler's most expensive baseline point with no more generation MACs
than the trial (up to 1%): the strongest free alternative at the trial's cost, chosen on the
confirmation's own numbers, not the search's noisier ones. Dense and pruned share each noise, so their difference is paired. It reports, per trial, the
mean paired difference (trial minus dense; negative = beyond) over training seeds, with a 95% t
interval over training seeds, and the evaluation-noise sd of a paired difference (over noise seeds,
pooled over models).

    python -m bench.confirm RUN_DIR [--trial ID ...] [--train-seeds 100 101] [--samples 1000]
        [--eval-seeds 1234 1235 1236] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

from alternas._readers import read_model
from alternas.api import train_alter
from alternas.backbones import adapter_for
from alternas.bundle import ModelBundle
from alternas.config import EvalConfig, RunConfig
from alternas.evaluation.evaluate import generate_for_eval, quality_scores
from alternas.evaluation.reference import EvaluationInputs, evaluation_inputs
from alternas.evaluation.sampling import Predictor, dense_predictor
from alternas.export import routed_from_plan
from alternas.plan import ExpertPlan
from alternas.report import build_report
from alternas.report.dense_front import EQUAL_MACS
from alternas.rundir import RUN_FILES, SearchRunDir
from alternas.sources import load_bundle

from .output import emit_json

__all__ = ["confirm_trials"]

#: two-sided 95% Student t quantiles by degrees of freedom
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def _fid(model: Predictor, bundle: ModelBundle, eval_config: EvalConfig, inputs: EvaluationInputs) -> float:
    """FID of ``model`` sampled with ``eval_config``'s sampler and step count from ``inputs``' noise."""
    images = generate_for_eval(model, bundle, eval_config, inputs.noise, inputs.conditions)
    return quality_scores(inputs.metrics, images, inputs.conditions).values["fid"]


def _exported_model(folder: Path) -> Predictor:
    """A trial folder's fine-tuned backbone as the routed model of its plan (what an export runs)."""
    plan = ExpertPlan.load(folder / RUN_FILES["plan"])
    return dense_predictor(adapter_for(routed_from_plan(folder / RUN_FILES["backbone"], plan).eval()))


def _interval(values: list[float]) -> tuple[float, float | None, float | None]:
    """``(mean, low, high)``: a 95% t interval over ``values`` (no bounds with one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    half = _T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def confirm_trials(
    run_dir: Path, trials: list[str] | None, train_seeds: list[int], samples: int, eval_seeds: list[int], work: Path
) -> dict[str, Any]:
    """Retrain and rescore ``trials`` (default: every trial the report puts beyond the baseline)."""
    report = build_report(run_dir)
    baseline = report.baseline
    if baseline is None:
        raise SystemExit(f"{run_dir} has no dense baseline to confirm against")
    metric, lower = report.config.quality_metric, report.lower_is_better
    chosen = trials or [e.trial_id for e in report.entries if e.beyond_baseline]
    layout = SearchRunDir(run_dir)
    results: dict[str, Any] = {}
    noise_sds: list[float] = []
    for trial_id in chosen:
        entry = report.entry(trial_id)
        trial_dir = layout.trial_dir(trial_id)
        config = read_model(trial_dir / RUN_FILES["config"], RunConfig)
        bundle = load_bundle(config.model)
        scored = config.eval.model_copy(update={"num_samples": samples, "metrics": ["fid"]})
        shape = bundle.sample_shape(config.data.resolution)
        inputs = {  # the noise, conditions and FID of each evaluation seed, shared by every model scored
            seed: evaluation_inputs(
                bundle, config.model_copy(update={"eval": scored.model_copy(update={"seed": seed})}), shape,
                torch.device("cpu"),
            )
            for seed in eval_seeds
        }
        sign = 1 if lower else -1
        teacher = dense_predictor(adapter_for(bundle.backbone.eval()))
        candidates = {}  # each sampler's most expensive dense point within the trial's MACs, rescored
        for point in baseline.scored(metric):
            if point.generation_macs <= entry.macs * (1 + EQUAL_MACS):
                if point.sampler not in candidates or point.steps > candidates[point.sampler][0].steps:
                    candidates[point.sampler] = (point, None)
        for sampler, (point, _) in candidates.items():
            dense_eval = scored.model_copy(update={"scheduler": point.sampler, "steps": point.steps})
            candidates[sampler] = (point, {seed: _fid(teacher, bundle, dense_eval, inputs[seed]) for seed in eval_seeds})
        dense, dense_fid = min(candidates.values(), key=lambda item: sign * statistics.fmean(item[1].values()))
        models = {"search": trial_dir}
        for seed in train_seeds:
            retrained = work / trial_id / f"seed-{seed}"
            if not (retrained / RUN_FILES["plan"]).is_file():
                train_alter(config.model_copy(update={"train": config.train.model_copy(update={"seed": seed})}),
                            run_dir=retrained)
            models[f"seed-{seed}"] = retrained
        per_model = {}
        for name, folder in models.items():
            model = _exported_model(folder)
            fids = {seed: _fid(model, bundle, scored, inputs[seed]) for seed in eval_seeds}
            differences = [fids[s] - dense_fid[s] for s in eval_seeds]
            if len(differences) > 1:
                noise_sds.append(statistics.stdev(differences))
            per_model[name] = {"fid": fids, "paired_difference": statistics.fmean(differences)}
        mean, low, high = _interval([m["paired_difference"] for m in per_model.values()])
        results[trial_id] = {
            "params": entry.params,
            "search_fid": entry.quality,
            "generation_macs": entry.macs,
            "dense": {"label": baseline.label(dense), "generation_macs": dense.generation_macs, "fid": dense_fid,
                      "search_fid": baseline.quality(dense, metric)},
            "dense_candidates": {baseline.label(p): fids for p, fids in candidates.values()},
            "models": per_model,
            "mean_fid": statistics.fmean(statistics.fmean(m["fid"].values()) for m in per_model.values()),
            "paired_difference": {"mean": mean, "ci95": [low, high]},
            "confirmed_beyond": high is not None and (high < 0 if lower else low > 0),
        }
    return {
        "run_dir": str(run_dir),
        "samples": samples,
        "eval_seeds": eval_seeds,
        "train_seeds": train_seeds,
        "trials": results,
        "eval_noise_sd_of_paired_difference": statistics.fmean(noise_sds) if noise_sds else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--trial", action="append", default=None, help="trial id (repeatable; default: the beyond ones)")
    parser.add_argument("--train-seeds", type=int, nargs="*", default=[100, 101])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--eval-seeds", type=int, nargs="+", default=[1234, 1235, 1236])
    parser.add_argument("--work", type=Path, default=None, help="where retrained models go (default: a temp folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="alternas-confirm-"))
    emit_json(confirm_trials(args.run_dir, args.trial, args.train_seeds, args.samples, args.eval_seeds, work), args.json)


if __name__ == "__main__":
    main()
