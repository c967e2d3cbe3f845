"""Measure a search's step-count baseline once, before its trials, into ``<run dir>/baseline.json``.

The dense teacher is scored at the ladder of ``report.baseline`` under each of its samplers (every
offered one unless the recipe names some), with the recipe's other evaluation settings and the threads
of one trial; a resumed search keeps the measured file when nothing it depends on changed.
"""

from __future__ import annotations

import time

from rich.console import Console

from .._cache import config_hash
from ..config import RunConfig
from ..evaluation.dense_ladder import measure_baseline
from ..recipe import Recipe
from ..quality import write_scores
from ..report.dense_front import BASELINE_SCORES_FILE, Baseline, read_baseline, write_baseline
from ..rundir import SearchRunDir
from ..samplers import get_sampler

__all__ = ["baseline_run_config", "ensure_baseline"]


def baseline_run_config(recipe: Recipe) -> RunConfig:
    """The run config the baseline is measured with: the recipe's fixed sections, the space's MACs
    convention, and one trial's CPU threads."""
    data = recipe.base_run_config()
    data["budget"] = {"convention": recipe.space.budget.convention}
    return RunConfig.model_validate(data)


def ensure_baseline(recipe: Recipe, layout: SearchRunDir, console: Console) -> Baseline | None:
    """The run directory's baseline, measured now unless an up-to-date one is there.

    Returns:
        ``None`` when ``report.baseline.steps`` is empty (no baseline wanted).
    """
    searched = recipe.default_steps()
    steps = recipe.report.baseline.ladder(searched)
    if not steps:
        return None
    config = baseline_run_config(recipe)
    settings = recipe.report.baseline
    samplers = settings.baseline_samplers(config.eval.scheduler)
    key = config_hash(
        {
            "model": config.model.model_dump(mode="json"),
            "data": config.data.model_dump(mode="json"),
            "eval": config.eval.model_dump(mode="json", exclude={"steps"}),
            "convention": config.budget.convention,
            "threads": config.train.threads,
            "steps": steps,
            "samplers": {name: {**get_sampler(name).settings} for name in samplers},
        }
    )
    existing = read_baseline(layout.root)
    if existing is not None and existing.key == key:
        return existing
    console.print(
        f"measuring the dense step-count baseline at {', '.join(map(str, steps))} steps with "
        f"{', '.join(samplers)}",
        highlight=False,
    )
    started = time.perf_counter()
    points, scores = measure_baseline(config, steps, samplers)
    write_scores(layout.root / BASELINE_SCORES_FILE, scores)  # before baseline.json, which marks it measured
    baseline = Baseline(
        key=key,
        scheduler=config.eval.scheduler,
        samplers_restricted=settings.samplers is not None,
        guidance_scale=config.eval.guidance_scale,
        num_samples=config.eval.num_samples,
        convention=config.budget.convention,
        reference_steps=max(searched),
        seconds=time.perf_counter() - started,
        points=points,
    )
    write_baseline(layout.root, baseline)
    return baseline
