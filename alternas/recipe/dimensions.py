"""Search dimensions: each value a search samples for a trial, declared once, as an object.

A dimension knows its name (the Optuna parameter, the key of a trial's Tune config and of an initial
point), its values (read from the recipe), its Optuna distribution, how a sampled value goes into the
trial's run config and its ``params`` record, how ``alternas validate`` shows and checks it, and its
label in the live progress table. The searcher's Optuna space, trial resolution, validation, the
validate table, the progress display and the grid size all iterate over :func:`search_dimensions`;
none of them names a dimension.

:data:`DIMENSIONS` holds the kinds of dimension in the order of their parameters: the expert layout,
the budget, the sampler steps, the sampler (when ``space.samplers`` is given), then one per
``space.ranges`` field. Each kind builds the dimensions a recipe has with
:meth:`SearchDimension.from_recipe`. Add one by subclassing :class:`SearchDimension` (``from_recipe``,
``choices`` and ``apply``; the rest has defaults) and registering it with :func:`register_dimension`
in a module imported before the recipe is read. A search hands the driver's dimensions to its trials,
so a Ray worker only needs to be able to import the class.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .problems import Problem
from .space import (
    EXPERTS_PARAM,
    FIXED_PER_TRIAL,
    SAMPLER_PARAM,
    STEPS_PARAM,
    BudgetSpace,
    Dimension,
    Layout,
    numeric_field_type,
    searchable_fields,
)

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

    from .recipe_model import Recipe

__all__ = [
    "BudgetDimension",
    "DIMENSIONS",
    "ExpertLayoutDimension",
    "RangeDimension",
    "SamplerDimension",
    "SearchDimension",
    "StepsDimension",
    "TrialDraft",
    "recipe_dimensions",
    "register_dimension",
    "search_dimensions",
]


@dataclass
class TrialDraft:
    """A trial's run config while its dimensions write their sampled values into it.

    Attributes:
        sampled: every searched value of the trial, by dimension name.
        run: the run config as a dict of JSON types: the recipe's fixed sections, the candidate units and
            the trial's seed, then what the dimensions write.
        params: the searched values as run-config dotted paths, as the trial's record keeps them.
        budget_share: MACs per sampler step the trial's budget allows, as a share of the dense backbone
            (set by the budget; 1.0 = the dense model).
    """

    sampled: Mapping[str, Any]
    run: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    budget_share: float = 1.0


class SearchDimension(ABC):
    """One value a search samples for every trial.

    Args:
        name: the Optuna parameter's name, also the key of the trial's Tune config and of an initial point
            (``experts``, ``budget.macs_share``, ``train.lr``...).
        path: the recipe field that gives its values, named in messages (``space.experts``).
        searched: ``False`` for a value the recipe fixes: shown with the space, never sampled.
    """

    def __init__(self, name: str, path: str, searched: bool = True) -> None:
        self.name = name
        self.path = path
        self.searched = searched

    @classmethod
    @abstractmethod
    def from_recipe(cls, recipe: Recipe) -> list[SearchDimension]:
        """The dimensions of this kind that ``recipe`` has (none, one or several), in parameter order."""

    @abstractmethod
    def choices(self) -> list[Any] | None:
        """The values to choose from, as a trial receives them; ``None`` for a continuous range."""

    @abstractmethod
    def apply(self, value: Any, trial: TrialDraft) -> None:
        """Write the sampled ``value`` into ``trial.run`` and record it in ``trial.params``."""

    def extremes(self) -> list[Any]:
        """The values validation builds a trial config at (the first also stands for this dimension while
        the others vary): every choice (a range overrides it)."""
        return list(self.choices())

    def contains(self, value: Any) -> bool:
        """Whether ``value`` (from an initial point) lies in the dimension."""
        return value in self.choices()

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution the sampler draws from: one of the choices (a range overrides it)."""
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.choices())

    def describe(self) -> str:
        """The values for a table, e.g. ``"static, 2 learned"`` (a range overrides it)."""
        return ", ".join(str(choice) for choice in self.choices())

    def meaning(self) -> str:
        """What the values are, with their unit, for a table."""
        return "range" if self.choices() is None else "choices"

    def problems(self) -> Iterator[Problem]:
        """What is wrong with the dimension as the recipe gives it (nothing by default)."""
        return iter(())

    def label(self, value: Any) -> str:
        """A sampled value in the live progress table, e.g. ``"lr=0.002"``."""
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        return f"{self.name.rsplit('.', 1)[-1]}={shown}"

    def recorded(self, params: Mapping[str, Any]) -> Any:
        """The sampled value a trial's ``params`` record holds (``None`` when it holds none)."""
        return params.get(self.name)


#: the kinds of search dimension, in the order of their parameters
DIMENSIONS: list[type[SearchDimension]] = []


def register_dimension(kind: type[SearchDimension]) -> type[SearchDimension]:
    """Search ``kind``'s dimensions after those of the kinds registered before it; returns ``kind`` (so
    that it decorates the class).

    Raises:
        ValueError: ``kind`` is registered already.
    """
    if kind in DIMENSIONS:
        raise ValueError(f"the search dimension `{kind.__name__}` is already registered")
    DIMENSIONS.append(kind)
    return kind


def recipe_dimensions(recipe: Recipe) -> list[SearchDimension]:
    """Every dimension of ``recipe`` in parameter order, those it fixes (``searched=False``) included."""
    return [dimension for kind in DIMENSIONS for dimension in kind.from_recipe(recipe)]


def search_dimensions(recipe: Recipe) -> list[SearchDimension]:
    """The dimensions a search of ``recipe`` samples, in the order of their Optuna parameters."""
    return [dimension for dimension in recipe_dimensions(recipe) if dimension.searched]


class _NumericDimension(SearchDimension):
    """A dimension the recipe gives as a :class:`~alternas.recipe.space.Dimension`: numbers or a range.

    Args:
        name: the parameter's name.
        path: the recipe field of ``values``.
        values: the choices or the range.
        kind: ``int`` or ``float``, the type a trial receives.
    """

    def __init__(self, name: str, path: str, values: Dimension, kind: type = float) -> None:
        super().__init__(name, path)
        self.values = values
        self.kind = kind

    def choices(self) -> list[Any] | None:
        return None if self.values.is_range else [self.kind(value) for value in self.values.choices]

    def extremes(self) -> list[Any]:
        """Every choice, or a range's two ends."""
        return [self.kind(value) for value in self.values.extremes()]

    def contains(self, value: Any) -> bool:
        return self.values.contains(value)

    def distribution(self) -> BaseDistribution:
        """One of the choices, or a float or int range (log, stepped)."""
        from optuna.distributions import FloatDistribution, IntDistribution

        values = self.values
        if not values.is_range:
            return super().distribution()
        if self.kind is int:
            return IntDistribution(int(values.low), int(values.high), log=values.log, step=int(values.step or 1))
        return FloatDistribution(values.low, values.high, log=values.log, step=values.step)

    def describe(self) -> str:
        return self.values.describe()


@register_dimension
class ExpertLayoutDimension(SearchDimension):
    """The expert layout, ``space.experts``: how many experts and how timesteps reach them, sampled by its
    label (``static``, ``4 learned``, ``3 manual``).

    Args:
        layouts: the space's layouts.
    """

    def __init__(self, layouts: list[Layout]) -> None:
        super().__init__(EXPERTS_PARAM, "space.experts")
        self.layouts = {layout.label: layout for layout in layouts}

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> list[SearchDimension]:
        return [cls(recipe.space.experts.layouts())]

    def choices(self) -> list[str]:
        return list(self.layouts)

    def apply(self, value: str, trial: TrialDraft) -> None:
        """The run config's ``experts`` section; ``experts.count``, ``experts.routing`` and manual
        ``experts.boundaries`` in the record."""
        layout = self.layouts[value]
        trial.run["experts"] = layout.experts_config().model_dump(mode="json")
        trial.params["experts.count"] = layout.count
        trial.params["experts.routing"] = layout.routing
        if layout.boundaries is not None:
            trial.params["experts.boundaries"] = list(layout.boundaries)

    def meaning(self) -> str:
        return f"{len(self.layouts)} expert layouts (count and timestep partition)"

    def label(self, value: str) -> str:
        return str(value)

    def recorded(self, params: Mapping[str, Any]) -> str | None:
        if "experts.count" not in params or "experts.routing" not in params:
            return None
        return Layout(params["experts.count"], params["experts.routing"]).label


@register_dimension
class BudgetDimension(_NumericDimension):
    """The compute budget, ``space.budget``: MACs per sampler step (``budget.macs_share``), or total
    generation MACs (``budget.generation_share``), spread over the trial's sampler steps.

    Args:
        budget: the space's budget section.
    """

    def __init__(self, budget: BudgetSpace) -> None:
        super().__init__(budget.param, f"space.{budget.param}", budget.dimension, float)
        self.budget = budget

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> list[SearchDimension]:
        return [cls(recipe.space.budget)]

    def apply(self, value: float, trial: TrialDraft) -> None:
        """The run config's ``budget``: the per-step target at the trial's sampler steps (at most 1),
        recorded as ``budget.macs_share`` (and the sampled ``budget.generation_share``)."""
        value, steps = float(value), int(trial.sampled[STEPS_PARAM])
        target = self.budget.target_share(value, steps)
        trial.run["budget"] = {"macs_share": target, "convention": self.budget.convention}
        trial.params["budget.macs_share"] = target
        if self.budget.generation_share is not None:
            trial.params[self.name] = value
        trial.budget_share = self.budget.budget_share(value, steps)

    def meaning(self) -> str:
        budget = self.budget
        if budget.macs_share is not None:
            return f"MACs per sampler step / dense ({budget.convention})"
        return f"total generation MACs / dense at {budget.reference_steps} steps ({budget.convention})"


@register_dimension
class StepsDimension(SearchDimension):
    """The sampler's step count: ``space.steps``, else the recipe's ``eval.steps`` (one choice).

    Args:
        steps: the step counts.
    """

    def __init__(self, steps: list[int]) -> None:
        super().__init__(STEPS_PARAM, "space.steps")
        self.steps = steps

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> list[SearchDimension]:
        return [cls(recipe.default_steps())]

    def choices(self) -> list[int]:
        return list(self.steps)

    def apply(self, value: int, trial: TrialDraft) -> None:
        trial.run["eval"]["steps"] = trial.params[self.name] = int(value)

    def meaning(self) -> str:
        return "sampler steps"

    def label(self, value: int) -> str:
        return f"{value} steps"


@register_dimension
class SamplerDimension(SearchDimension):
    """The diffusion sampler, ``space.samplers`` (names of :mod:`alternas.samplers`); without it the
    recipe's ``eval.scheduler``, fixed (not a search parameter).

    Args:
        samplers: the sampler names.
        searched: whether the space names the samplers.
    """

    def __init__(self, samplers: list[str], searched: bool) -> None:
        super().__init__(SAMPLER_PARAM, "space.samplers", searched)
        self.samplers = samplers

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> list[SearchDimension]:
        return [cls(recipe.default_samplers(), searched=recipe.space.samplers is not None)]

    def choices(self) -> list[str]:
        return list(self.samplers)

    def apply(self, value: str, trial: TrialDraft) -> None:
        trial.run["eval"]["scheduler"] = trial.params[self.name] = str(value)

    def meaning(self) -> str:
        return "samplers (alternas.samplers)"


@register_dimension
class RangeDimension(_NumericDimension):
    """One numeric run-config field of ``space.ranges``, by dotted path (``train.lr``, ``loss.ratio``).

    Args:
        path: the field's dotted path (the parameter's name).
        values: its choices or range.
    """

    def __init__(self, path: str, values: Dimension) -> None:
        super().__init__(path, f"space.ranges.{path}", values, numeric_field_type(path) or float)

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> list[SearchDimension]:
        return [cls(path, values) for path, values in recipe.space.ranges.items()]

    def apply(self, value: float, trial: TrialDraft) -> None:
        section, _, name = self.name.partition(".")
        trial.run[section][name] = trial.params[self.name] = self.kind(value)

    def problems(self) -> Iterator[Problem]:
        """A field set per trial by the search, or one that is not a numeric run-config field."""
        if self.name in FIXED_PER_TRIAL:
            yield Problem(self.path, f"`{self.name}` is set per trial from {FIXED_PER_TRIAL[self.name]}")
        elif numeric_field_type(self.name) is None:
            close = difflib.get_close_matches(self.name, searchable_fields(), n=1)
            hint = f"did you mean `{close[0]}`?" if close else "e.g. `train.lr`, `train.hypernet_lr`, `loss.ratio`"
            yield Problem(self.path, f"not a numeric run-config field; {hint}")
