"""The Optuna sampler behind a search, as a Ray Tune searcher: space, sampler, seeds and constraints."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial
from ray.tune.search.optuna import OptunaSearch

from ..exceptions import CheckpointError
from ..recipe import Recipe, search_dimensions
from .objectives import CONSTRAINT_METRIC, Objectives
from .study_file import name_objectives, write_study_file
from .trainable import SEED_KEY

__all__ = ["AlterSearch", "SEED_KEY", "SamplerSpec", "TRIAL_ID_ATTR", "make_searcher", "optuna_space"]

_CONSTRAINT_NAME = "generation_macs_over_budget"
#: user attribute of each Optuna trial naming its alternas trial (the folder under ``<run dir>/trials``)
TRIAL_ID_ATTR = "alternas_trial_id"
#: version of the state :meth:`AlterSearch.__getstate__` writes (checked when a searcher is restored)
_STATE_VERSION = 1


def optuna_space(recipe: Recipe) -> dict[str, BaseDistribution]:
    """The recipe's search space as Optuna distributions, one per search dimension, in its order (the
    names are :func:`~alternas.recipe.search_params`)."""
    return {dimension.name: dimension.distribution() for dimension in search_dimensions(recipe)}


@dataclass(frozen=True)
class SamplerSpec:
    """How to build a search's Optuna sampler: what a searcher pickles instead of the sampler itself.

    Optuna's samplers are not promised to pickle (Optuna 5.1's ``NSGAIISampler`` holds a thread lock), so
    :class:`AlterSearch` keeps this recipe-level description and builds the sampler from it, on creation
    and again after it is restored. Everything a sampler learns lives in the study's trials, which the
    searcher saves beside it.

    Attributes:
        name: ``search.sampler`` (``nsga2``, ``tpe``, ``gp`` or ``grid``).
        seed: ``search.seed``; a sampler rebuilt after ``n`` trials is seeded with ``seed + n`` so that a
            resumed search stays reproducible from its saved state.
        population_size: nsga2's trials per generation.
        startup_trials: tpe's and gp's random trials before their model is used.
        grid: grid's values per parameter.
    """

    name: str
    seed: int
    population_size: int = 8
    startup_trials: int = 8
    grid: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def from_recipe(cls, recipe: Recipe, space: dict[str, BaseDistribution]) -> SamplerSpec:
        settings = recipe.search
        grid = {name: list(d.choices) for name, d in space.items()} if settings.sampler == "grid" else {}
        return cls(settings.sampler, settings.seed, settings.population_size, settings.startup_trials, grid)

    def build(self, trials_so_far: int = 0) -> optuna.samplers.BaseSampler:
        """A new sampler; ``trials_so_far`` is the length of the history it continues (see ``seed``)."""
        seed = self.seed + trials_so_far
        if self.name == "nsga2":
            return optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=seed)
        if self.name == "tpe":
            return optuna.samplers.TPESampler(n_startup_trials=self.startup_trials, seed=seed)
        if self.name == "gp":  # multi-objective log-EHVI; reads the budget constraint each trial sets
            return optuna.samplers.GPSampler(n_startup_trials=self.startup_trials, seed=seed)
        if self.name == "grid":
            return optuna.samplers.GridSampler(self.grid, seed=seed)
        raise ValueError(f"unknown sampler {self.name!r}: expected nsga2, tpe, gp or grid")


class AlterSearch(OptunaSearch):
    """:class:`~ray.tune.search.optuna.OptunaSearch` for ALTER trials.

    On top of Optuna's suggestions it gives each trial a training seed (``base_seed`` + the Optuna trial
    number, so a search is reproducible), and before a finished trial is told to the study it attaches
    the trial's budget constraint (``budget_constraint`` of its last result), so that samplers and
    ``study.best_trials`` treat over-budget trials as infeasible; the constraint is also a user attribute
    (``generation_macs_over_budget``), the study names its objectives and each Optuna trial carries its
    alternas trial id (``alternas_trial_id``), so that optuna-dashboard shows them. A trial that ended
    without its objectives (it diverged) is told as failed. After each trial ends, the study is copied to
    ``study_file`` (see :mod:`alternas.search.study_file`).

    The searcher pickles (Ray Tune pickles it into the ``Tuner`` and into its search state) as plain
    data: the sampler's :class:`SamplerSpec` and the study's trials, never Optuna's sampler or study
    objects; unpickling rebuilds both (see :meth:`__getstate__`).

    Args:
        space: Optuna distributions by parameter name.
        objectives: the quality and MACs objectives and the budget tolerance.
        sampler: how to build the Optuna sampler.
        base_seed: seed of the first trial.
        points_to_evaluate: points (every parameter) the study evaluates before sampling.
        study_file: where the study's journal copy goes (``None``: nowhere).
        study_name: the copy's study name.
    """

    def __init__(
        self,
        space: dict[str, BaseDistribution],
        objectives: Objectives,
        sampler: SamplerSpec,
        base_seed: int,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        study_file: Path | None = None,
        study_name: str = "alternas",
    ) -> None:
        self._sampler_spec = sampler
        super().__init__(
            space=space,
            metric=objectives.metrics,
            mode=objectives.modes,
            sampler=sampler.build(),
            points_to_evaluate=points_to_evaluate,
            study_name=study_name,
            storage=InMemoryStorage(),
        )
        self._base_seed = base_seed
        self._study_file = study_file
        name_objectives(self._ot_study, objectives.metrics)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        if not isinstance(config, dict):
            return config
        trial = self._ot_trials[trial_id]
        trial.set_user_attr(TRIAL_ID_ATTR, trial_id)  # the trial's folder under <run dir>/trials
        return {**config, SEED_KEY: self._base_seed + trial.number}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        trial = self._ot_trials.get(trial_id)
        if trial is None:  # suggested after the sampler state a resumed search restored: nothing to tell
            return
        if not result or any(metric not in result for metric in self.metric):
            result, error = None, True  # ended without objectives (diverged): a failed Optuna trial
        if trial_id not in self._completed_trials and not error and CONSTRAINT_METRIC in result:
            trial.set_constraint(_CONSTRAINT_NAME, float(result[CONSTRAINT_METRIC]))
            trial.set_user_attr(_CONSTRAINT_NAME, float(result[CONSTRAINT_METRIC]))  # shown by optuna-dashboard
        super().on_trial_complete(trial_id, result=result, error=error)
        if self._study_file is not None:
            write_study_file(self._ot_study, self._study_file, self._study_name)

    @property
    def study(self) -> optuna.Study:
        """The in-memory Optuna study the sampler proposes from (every trial told so far)."""
        return self._ot_study

    # --- pickling: plain data only ---------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The searcher as plain data: its settings, the sampler's spec, the study's directions and trials
        (Optuna ``FrozenTrial`` records, running and waiting ones included) and which Tune trial is which
        Optuna trial number."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_sampler", "_storage", "_ot_study", "_ot_trials")}
        study = self._ot_study
        state["_version"] = _STATE_VERSION
        state["_study_trials"] = study.get_trials(deepcopy=False) if study is not None else []  # pickled anyway
        state["_study_directions"] = [d.name for d in study.directions] if study is not None else []
        state["_study_metric_names"] = study.metric_names if study is not None else None
        state["_trial_numbers"] = {trial_id: trial.number for trial_id, trial in self._ot_trials.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if state.pop("_version", None) != _STATE_VERSION:
            raise ValueError("not a saved alternas searcher state (or one of another version)")
        trials: list[FrozenTrial] = state.pop("_study_trials")
        directions: list[str] = state.pop("_study_directions")
        numbers: dict[str, int] = state.pop("_trial_numbers")
        metric_names: list[str] | None = state.pop("_study_metric_names")
        self.__dict__.update(state)
        self._sampler = self._sampler_spec.build(trials_so_far=len(trials))
        self._storage = InMemoryStorage()
        self._ot_study = optuna.create_study(
            storage=self._storage,
            sampler=self._sampler,
            pruner=optuna.pruners.NopPruner(),
            study_name=self._study_name,
            directions=[d.lower() for d in directions],
        )
        if metric_names:
            name_objectives(self._ot_study, metric_names)
        self._ot_study.add_trials(trials)
        study_id = self._storage.get_study_id_from_name(self._study_name)
        self._ot_trials = {
            trial_id: optuna.Trial(self._ot_study, self._storage.get_trial_id_from_study_id_trial_number(study_id, n))
            for trial_id, n in numbers.items()
        }

    @classmethod
    def from_state(cls, state: Any) -> AlterSearch:
        """A searcher rebuilt from :meth:`__getstate__`'s data.

        Raises:
            ValueError: ``state`` is not such data (another type, another version, missing fields).
        """
        if not isinstance(state, dict):
            raise ValueError(f"holds a {type(state).__name__}, not a searcher state")
        searcher = cls.__new__(cls)
        try:
            searcher.__setstate__(state)
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a searcher state ({type(error).__name__}: {error})") from error
        return searcher

    def save(self, checkpoint_path: str) -> None:
        """Ray Tune's search-state file: the pickled :meth:`__getstate__`."""
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__getstate__(), file)

    def restore(self, checkpoint_path: str) -> None:
        """Load :meth:`save`'s file.

        Raises:
            CheckpointError: the file holds no searcher state of this version (damaged or from elsewhere).
        """
        with open(checkpoint_path, "rb") as file:
            state = pickle.load(file)
        try:
            restored = self.from_state(state)
        except ValueError as error:
            raise CheckpointError(f"`{checkpoint_path}`: {error}") from error
        self.__dict__.update(restored.__dict__)


def make_searcher(recipe: Recipe, study_file: Path | None = None) -> AlterSearch:
    """The searcher a recipe's ``search`` section asks for (nsga2, tpe or grid); its study is copied to
    ``study_file`` (under the recipe's name) after each trial."""
    space = optuna_space(recipe)
    settings = recipe.search
    return AlterSearch(
        space,
        Objectives.from_recipe(recipe),
        SamplerSpec.from_recipe(recipe, space),
        settings.seed,
        settings.initial_points,
        study_file=study_file,
        study_name=recipe.name,
    )
