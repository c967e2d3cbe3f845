"""The search space of a recipe: candidate units, expert layouts, budgets, sampler steps and ranges.

A space is data (YAML, inline under ``space:`` or in its own file under ``search_spaces/``)::

    units: {include: ["*"], exclude: [], kinds: null}     # the candidate units every expert may skip
    experts:
      counts: [1, 2, 3, 4]                                # numbers of temporal experts N_e
      partitions: [learned, manual, static]               # how timesteps are routed to experts
      boundaries: {3: [300, 700]}                         # manual: count -> N_e - 1 timesteps (else equal)
    budget:
      macs_share: [0.5, 0.65, 0.8]                        # MACs per sampler step / dense, or:
      # generation_share: [0.26, 0.4]                     # total generation MACs / dense generation
      # reference_steps: 50                               #   at this many dense sampler steps
    steps: [10, 20]                                       # sampler step counts (default: eval.steps)
    samplers: [ddim, unipc]                               # samplers (default: eval.scheduler)
    ranges:                                               # any numeric field of the run config
      train.lr: {low: 1.0e-4, high: 3.0e-3, log: true}
      loss.ratio: [2.0, 5.0]

One expert is the static partition (a single mask for every timestep), so ``static`` goes with
count 1 and ``learned`` / ``manual`` with counts of 2 or more; the space's *layouts* are those pairs.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, field_validator, model_validator
from pydantic.json_schema import JsonSchemaValue

from ..config import ExpertsConfig, RunConfig, UnitsConfig
from ..samplers import check_sampler_names, sampler_names, sampler_schema

__all__ = [
    "Dimension",
    "ExpertsSpace",
    "BudgetSpace",
    "SearchSpace",
    "Layout",
    "EXPERTS_PARAM",
    "SAMPLER_PARAM",
    "STEPS_PARAM",
    "SEARCHED_SECTIONS",
    "FIXED_PER_TRIAL",
    "numeric_field_type",
    "searchable_fields",
]

#: name of the sampled expert layout (``"static"``, ``"4 learned"``, ...)
EXPERTS_PARAM = "experts"
#: name of the sampled sampler step count
STEPS_PARAM = "eval.steps"
#: name of the sampled sampler (a search parameter only when ``space.samplers`` is given)
SAMPLER_PARAM = "eval.scheduler"

#: run-config sections a recipe may not set directly: the space searches them
SEARCHED_SECTIONS = ("units", "experts", "budget")
#: run-config fields set per trial by the search (not searchable through `space.ranges`): what sets them
FIXED_PER_TRIAL = {
    "train.seed": "`search.seed` (trial k trains with seed + k)",
    "train.threads": "`search.cpus_per_trial`",
    STEPS_PARAM: "`space.steps`",
}

Partition = Literal["learned", "manual", "static"]


def _distinct(values: list[Any], what: str) -> list[Any]:
    """``values`` if none repeats; raises ``ValueError`` naming ``what`` otherwise."""
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat, got {values}")
    return values


def _distinct_in_range(values: list[int], what: str, low: int, high: int) -> list[int]:
    """``values`` if none repeats and all lie in ``[low, high]``; raises ``ValueError`` otherwise."""
    _distinct(values, what)
    bad = [value for value in values if not low <= value <= high]
    if bad:
        raise ValueError(f"{what} must be between {low} and {high}, got {bad}")
    return values


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Dimension(_Strict):
    """One searched value: a list of choices, a single value, or a range ``{low, high, log, step}``.

    In YAML, ``[0.5, 0.65]`` and ``0.5`` are choices; a mapping is a range.
    """

    choices: list[float] | None = Field(None, min_length=1, description="the values to choose from")
    low: float | None = Field(None, description="range: smallest value")
    high: float | None = Field(None, description="range: largest value")
    log: bool = Field(False, description="range: sample uniformly in log space")
    step: float | None = Field(None, gt=0, description="range: quantisation step")

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one value")
            return {"choices": value}
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"choices": [value]}
        if not isinstance(value, dict):
            raise ValueError("expected a number, a list of numbers, or a range `{low, high, log, step}`")
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The forms :meth:`_from_yaml` accepts: a number, a list of numbers, or the range mapping."""
        mapping = handler.resolve_ref_schema(handler(core_schema))
        choices = {"type": "array", "items": {"type": "number"}, "minItems": 1}
        return {"anyOf": [{"type": "number"}, choices, mapping], "description": mapping.pop("description", "")}

    @model_validator(mode="after")
    def _check(self) -> Dimension:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either a list of choices or a range `{low, high}`, not both")
            _distinct(self.choices, "choices")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs both `low` and `high` (or give a list of choices)")
        if not self.low < self.high:
            raise ValueError(f"`low` must be below `high`, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs `low` > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("a range cannot have both `log: true` and a `step`")
        return self

    @property
    def is_range(self) -> bool:
        """Whether this is a range (not a finite list of choices)."""
        return self.choices is None

    def contains(self, value: object) -> bool:
        """Whether ``value`` is one of the choices, or a number inside the range."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.choices is not None:
            return value in self.choices
        return self.low <= value <= self.high

    def extremes(self) -> list[float]:
        """The values that bound this dimension: every choice, or a range's two ends."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def describe(self) -> str:
        """A short human-readable form, e.g. ``"0.5, 0.65"`` or ``"[1e-4, 3e-3] log"``."""
        if self.choices is not None:
            return ", ".join(f"{value:g}" for value in self.choices)
        text = f"[{self.low:g}, {self.high:g}]"
        if self.log:
            text += " log"
        if self.step is not None:
            text += f" step {self.step:g}"
        return text


@dataclass(frozen=True)
class Layout:
    """One expert configuration of the space: how many experts and how timesteps reach them.

    Args:
        count: number of experts ``N_e``.
        routing: ``learned``, ``manual`` or ``static``.
        boundaries: manual routing: ``N_e - 1`` timestep boundaries; ``None`` = equal splits.
    """

    count: int
    routing: str
    boundaries: tuple[int, ...] | None = None

    @property
    def label(self) -> str:
        """The value the sampler chooses, e.g. ``"static"`` or ``"4 learned"``."""
        return "static" if self.routing == "static" else f"{self.count} {self.routing}"

    def experts_config(self) -> ExpertsConfig:
        """The run config's ``experts`` section for this layout."""
        boundaries = list(self.boundaries) if self.boundaries is not None else None
        return ExpertsConfig(count=self.count, routing=self.routing, boundaries=boundaries)


class ExpertsSpace(_Strict):
    """Expert counts and timestep partitions to search over."""

    counts: list[int] = Field(min_length=1, description="numbers of temporal experts N_e to try")
    partitions: list[Partition] = Field(
        default_factory=lambda: ["learned"],
        min_length=1,
        description="learned: ALTER router; manual: fixed contiguous intervals; static: one expert",
    )
    boundaries: dict[int, list[int]] = Field(
        default_factory=dict,
        description="manual partitions: expert count -> count-1 increasing timestep boundaries "
        "(counts not listed use equal splits)",
    )

    @field_validator("counts")
    @classmethod
    def _check_counts(cls, counts: list[int]) -> list[int]:
        return _distinct_in_range(counts, "expert counts", 1, 64)

    @field_validator("partitions")
    @classmethod
    def _check_partitions(cls, partitions: list[str]) -> list[str]:
        return _distinct(partitions, "partitions")

    @model_validator(mode="after")
    def _check_boundaries(self) -> ExpertsSpace:
        for count, boundaries in self.boundaries.items():
            if "manual" not in self.partitions:
                raise ValueError("`boundaries` only apply to the `manual` partition; add it to `partitions`")
            if count not in self.counts or count < 2:
                raise ValueError(f"`boundaries` names count {count}, which is not a count of 2 or more in `counts`")
            ExpertsConfig(count=count, routing="manual", boundaries=boundaries)
        several = [n for n in self.counts if n >= 2]
        if several and self.partitions == ["static"]:
            raise ValueError(
                f"`static` uses one expert, so counts {several} need a `learned` or `manual` partition"
            )
        return self

    def layouts(self) -> list[Layout]:
        """Every (count, partition) pair of the space; one expert is always the static layout."""
        layouts = [Layout(1, "static")] if "static" in self.partitions or 1 in self.counts else []
        for count in sorted(n for n in self.counts if n >= 2):
            for routing in self.partitions:
                if routing == "static":
                    continue
                boundaries = self.boundaries.get(count) if routing == "manual" else None
                layouts.append(Layout(count, routing, tuple(boundaries) if boundaries else None))
        return layouts


class BudgetSpace(_Strict):
    """The compute budgets to search over: per sampler step, or for a whole generation."""

    convention: Literal["macs", "conv_linear"] = Field(
        "macs", description="macs: conv+linear+attention matmuls; conv_linear: BK-SDM / paper Table 2"
    )
    macs_share: Dimension | None = Field(
        None, description="target MACs per sampler step as a share of the dense backbone, in (0, 1]"
    )
    generation_share: Dimension | None = Field(
        None,
        description="total generation MACs as a share of the dense backbone's at `reference_steps` "
        "sampler steps (the paper's 25.9% = 20 steps x 0.65 / 50 steps)",
    )
    reference_steps: int | None = Field(
        None, ge=1, le=1000, description="dense sampler steps a `generation_share` is measured against"
    )

    @model_validator(mode="after")
    def _check_kind(self) -> BudgetSpace:
        if (self.macs_share is None) == (self.generation_share is None):
            raise ValueError("give exactly one of `macs_share` (per step) or `generation_share` (total)")
        if self.generation_share is not None and self.reference_steps is None:
            raise ValueError("`generation_share` needs `reference_steps` (the dense step count it refers to)")
        if self.macs_share is not None and self.reference_steps is not None:
            raise ValueError("`reference_steps` only applies to `generation_share`")
        values = self.dimension.extremes()
        if self.macs_share is not None and not all(0 < v <= 1 for v in values):
            raise ValueError(f"`macs_share` values must be in (0, 1], got {values}")
        if not all(v > 0 for v in values):
            raise ValueError(f"budget values must be > 0, got {values}")
        return self

    @property
    def param(self) -> str:
        """The sampled parameter's name: ``budget.macs_share`` or ``budget.generation_share``."""
        return "budget.macs_share" if self.macs_share is not None else "budget.generation_share"

    @property
    def dimension(self) -> Dimension:
        """The searched budget values."""
        return self.macs_share if self.macs_share is not None else self.generation_share

    def budget_share(self, value: float, steps: int) -> float:
        """The MACs per sampler step a budget ``value`` allows at ``steps`` steps, as a share of dense.

        A generation budget spreads ``value x reference_steps`` dense steps over ``steps`` steps; the
        result may exceed 1 (the dense model at fewer steps already fits).
        """
        if self.macs_share is not None:
            return value
        return value * self.reference_steps / steps

    def target_share(self, value: float, steps: int) -> float:
        """The per-step MACs share the hypernetwork is trained towards (the budget share, at most 1)."""
        return min(1.0, self.budget_share(value, steps))


class SearchSpace(_Strict):
    """Everything a search varies between trials."""

    units: UnitsConfig = Field(default_factory=UnitsConfig, description="the candidate units")
    experts: ExpertsSpace
    budget: BudgetSpace
    steps: list[int] | None = Field(
        None, min_length=1, description="sampler step counts to try; None = the recipe's `eval.steps`"
    )
    samplers: list[str] | None = Field(
        None,
        min_length=1,
        description="samplers to try (names of alternas.samplers); None = the recipe's `eval.scheduler`. Routing "
        "is defined on training timesteps, so each trial's experts serve the steps of its own sampler",
        json_schema_extra=lambda schema: schema.update(items=sampler_schema()),
    )
    ranges: dict[str, Dimension] = Field(
        default_factory=dict,
        description="numeric run-config fields to search, by dotted path (e.g. `train.lr`, `loss.ratio`)",
    )

    @field_validator("steps")
    @classmethod
    def _check_steps(cls, steps: list[int] | None) -> list[int] | None:
        return None if steps is None else _distinct_in_range(steps, "sampler steps", 1, 1000)

    _named_samplers = field_validator("samplers", mode="before")(lambda cls, samplers: sampler_names(samplers))
    _check_samplers = field_validator("samplers")(lambda cls, samplers: check_sampler_names(samplers))


def numeric_field_type(path: str) -> type | None:
    """``int`` or ``float`` when ``path`` (``section.field``) is a numeric field of a run config, else ``None``."""
    section_name, _, field_name = path.partition(".")
    section = RunConfig.model_fields.get(section_name)
    if section is None or section_name in SEARCHED_SECTIONS or not field_name or "." in field_name:
        return None
    field = section.annotation.model_fields.get(field_name)
    if field is None:
        return None
    kinds = {a for a in typing.get_args(field.annotation) if a is not type(None)} or {field.annotation}
    if kinds == {int}:
        return int
    if kinds <= {int, float} and float in kinds:
        return float
    return None


def searchable_fields() -> list[str]:
    """Every run-config field ``space.ranges`` may search (numeric, not set per trial)."""
    fields = []
    for section_name, section in RunConfig.model_fields.items():
        for field_name in section.annotation.model_fields:
            path = f"{section_name}.{field_name}"
            if numeric_field_type(path) is not None and path not in FIXED_PER_TRIAL:
                fields.append(path)
    return fields
