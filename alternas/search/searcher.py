"""The Optuna sampler behind a search, as a Ray Tune searcher: space, sampler, seeds and constraints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from ray.tune.search.optuna import OptunaSearch

from ..recipe import EXPERTS_PARAM, STEPS_PARAM, Dimension, Recipe
from ..recipe.schema import numeric_field_type
from .objectives import CONSTRAINT_METRIC, Objectives
from .study_file import write_study_file
from .trainable import SEED_KEY

__all__ = ["AlterSearch", "SEED_KEY", "make_searcher", "optuna_space"]

_CONSTRAINT_NAME = "generation_macs_over_budget"


def optuna_space(recipe: Recipe) -> dict[str, BaseDistribution]:
    """The recipe's search space as Optuna distributions, keyed by :func:`~alternas.recipe.search_params`."""
    space = recipe.space
    distributions: dict[str, BaseDistribution] = {
        EXPERTS_PARAM: CategoricalDistribution([layout.label for layout in space.experts.layouts()]),
        space.budget.param: _distribution(space.budget.dimension, float),
        STEPS_PARAM: CategoricalDistribution(recipe.default_steps()),
    }
    for path, dimension in space.ranges.items():
        distributions[path] = _distribution(dimension, numeric_field_type(path) or float)
    return distributions


def _distribution(dimension: Dimension, kind: type) -> BaseDistribution:
    if dimension.choices is not None:
        return CategoricalDistribution([kind(value) for value in dimension.choices])
    if kind is int:
        step = int(dimension.step or 1)
        return IntDistribution(int(dimension.low), int(dimension.high), log=dimension.log, step=step)
    return FloatDistribution(dimension.low, dimension.high, log=dimension.log, step=dimension.step)


def _sampler(recipe: Recipe, space: dict[str, BaseDistribution]) -> optuna.samplers.BaseSampler:
    settings = recipe.search
    if settings.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=settings.population_size, seed=settings.seed)
    if settings.sampler == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=settings.startup_trials, seed=settings.seed)
    grid = {name: list(distribution.choices) for name, distribution in space.items()}
    return optuna.samplers.GridSampler(grid, seed=settings.seed)


class AlterSearch(OptunaSearch):
    """:class:`~ray.tune.search.optuna.OptunaSearch` for ALTER trials.

    On top of Optuna's suggestions it gives each trial a training seed (``base_seed`` + the Optuna trial
    number, so a search is reproducible), and before a finished trial is told to the study it attaches
    the trial's budget constraint (``budget_constraint`` of its last result), so that samplers and
    ``study.best_trials`` treat over-budget trials as infeasible. A trial that ended without its
    objectives (it diverged) is told as failed. After each trial ends, the study is copied to
    ``study_file`` (see :mod:`alternas.search.study_file`).

    Args:
        space: Optuna distributions by parameter name.
        objectives: the quality and MACs objectives and the budget tolerance.
        sampler: the Optuna sampler.
        base_seed: seed of the first trial.
        points_to_evaluate: points (every parameter) the study evaluates before sampling.
        study_file: where the study's journal copy goes (``None``: nowhere).
        study_name: the copy's study name.
    """

    def __init__(
        self,
        space: dict[str, BaseDistribution],
        objectives: Objectives,
        sampler: optuna.samplers.BaseSampler,
        base_seed: int,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        study_file: Path | None = None,
        study_name: str = "alternas",
    ) -> None:
        super().__init__(
            space=space,
            metric=objectives.metrics,
            mode=objectives.modes,
            sampler=sampler,
            points_to_evaluate=points_to_evaluate,
        )
        self._base_seed = base_seed
        self._study_file = study_file
        self._study_name = study_name

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        if not isinstance(config, dict):
            return config
        return {**config, SEED_KEY: self._base_seed + self._ot_trials[trial_id].number}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        trial = self._ot_trials.get(trial_id)
        if trial is None:  # suggested after the sampler state a resumed search restored: nothing to tell
            return
        if not result or any(metric not in result for metric in self.metric):
            result, error = None, True  # ended without objectives (diverged): a failed Optuna trial
        if trial_id not in self._completed_trials and not error and CONSTRAINT_METRIC in result:
            trial.set_constraint(_CONSTRAINT_NAME, float(result[CONSTRAINT_METRIC]))
        super().on_trial_complete(trial_id, result=result, error=error)
        if self._study_file is not None:
            write_study_file(self._ot_study, self._study_file, self._study_name)


def make_searcher(recipe: Recipe, study_file: Path | None = None) -> AlterSearch:
    """The searcher a recipe's ``search`` section asks for (nsga2, tpe or grid); its study is copied to
    ``study_file`` (under the recipe's name) after each trial."""
    space = optuna_space(recipe)
    settings = recipe.search
    return AlterSearch(
        space,
        Objectives.from_recipe(recipe),
        _sampler(recipe, space),
        settings.seed,
        settings.initial_points,
        study_file=study_file,
        study_name=recipe.name,
    )
