"""The recipe: the fixed run-config sections, the search space, and how the search runs and is judged.

A recipe is one YAML file::

    name: quickstart                  # default: the file name
    output_dir: reports/quickstart    # default: reports/<name>
    model: {...}  data: {...}  hypernet: {...}  loss: {...}  train: {...}  eval: {...}
    space: search_spaces/quickstart.yaml      # or the space inline (see alternas.recipe.space)
    search: {sampler: nsga2, num_trials: 8, max_concurrent_trials: 2, cpus_per_trial: 1, ...}
    report: {quality_metric: fid, winner: fewest_macs_within_quality, ...}

The run-config sections are those of :class:`~alternas.config.RunConfig` minus what the space
searches (``units``, ``experts``, ``budget``); ``train.seed`` is set per trial from ``search.seed``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import (
    DataConfig,
    EvalConfig,
    HypernetConfig,
    LossConfig,
    ModelConfig,
    ReportConfig,
    TrainConfig,
)
from .dimensions import search_dimensions
from .space import SearchSpace

#: largest `search.seed` (trial seeds are `seed + k`; NumPy and Optuna take seeds below 2**32)
MAX_SEED = 2**31 - 1
#: upper bounds on a trial's resources and on concurrency (far above any real machine or cluster)
MAX_CPUS_PER_TRIAL = 4096
MAX_GPUS_PER_TRIAL = 64
MAX_CONCURRENT_TRIALS = 10_000

__all__ = ["SearchSettings", "Recipe", "TRACKER_PACKAGES"]

#: experiment trackers `search.tracking` may name -> the Python package each needs (pip name = module name)
TRACKER_PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow"}


class SearchSettings(BaseModel):
    """How the search runs: sampler, trial count, concurrency, resources, seed, limits."""

    model_config = ConfigDict(extra="forbid")

    sampler: Literal["nsga2", "tpe", "gp", "grid"] = Field(
        "nsga2",
        description="nsga2: multi-objective NSGA-II (quality and total MACs); tpe: multi-objective "
        "TPE; gp: Gaussian-process Bayesian optimisation (multi-objective log-EHVI, budget constraint "
        "modelled), for few expensive trials; grid: every point of a space of lists",
    )
    num_trials: int = Field(16, ge=1, description="trials to run (grid: at most the grid size)")
    population_size: int = Field(8, ge=2, description="nsga2: trials per generation")
    startup_trials: int = Field(
        8, ge=1, description="tpe, gp: random trials before the model is used (at num_trials or more, it never is)"
    )
    max_concurrent_trials: int = Field(
        2, ge=1, le=MAX_CONCURRENT_TRIALS, description="trials running at the same time"
    )
    cpus_per_trial: float = Field(
        1.0, gt=0, le=MAX_CPUS_PER_TRIAL, description="CPU cores reserved per trial (also its torch threads)"
    )
    gpus_per_trial: float = Field(
        0.0, ge=0, le=MAX_GPUS_PER_TRIAL, description="GPUs reserved per trial; fractions share a GPU"
    )
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of the sampler; trial k trains with seed `seed + k`")
    initial_points: list[dict[str, int | float | str]] = Field(
        default_factory=list,
        description="points evaluated first, before the sampler proposes (nsga2, tpe, gp): each gives a value "
        "for every search parameter (`experts`, the budget, `eval.steps`, every range), e.g. a baseline",
    )
    time_limit_s: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="stop starting and running trials after this many seconds (resumable)"
    )
    max_retries: int = Field(
        1, ge=0, description="restarts of a failed trial from its last checkpoint before it counts as failed"
    )
    scheduler: Literal["fifo", "mo_asha"] = Field(
        "fifo",
        description="fifo: every trial trains its full budget; mo_asha: multi-objective successive halving, "
        "a trial reaching a rung (`rungs`) is scored on `rung_samples` samples and continues only if it ranks "
        "in the best 1/`reduction_factor` of the trials at that rung (non-dominated sorting on quality and "
        "total MACs, then crowding distance; MACs over the budget count as the budget)",
    )
    rungs: list[float] = Field(
        default_factory=lambda: [0.25, 0.5],
        description="mo_asha: the rungs as shares of `train.steps`, increasing, each in (0, 1)",
    )
    rung_samples: int = Field(32, ge=2, description="mo_asha: samples of a rung's cheap evaluation (same noise)")
    reduction_factor: int = Field(
        2, ge=2, description="mo_asha: eta, a rung keeps the best ceil(n / eta) of the n trials that reached it"
    )
    tracking: list[Literal["tensorboard", "mlflow"]] = Field(
        default_factory=list,
        description="experiment trackers that log every trial's results through Ray Tune's logger callbacks: "
        "tensorboard (event files under <run dir>/ray/<trial>/), mlflow (one run per trial in the "
        "experiment named after the recipe, at MLFLOW_TRACKING_URI)",
    )
    budget_tolerance: float = Field(
        0.02,
        ge=0,
        allow_inf_nan=False,
        description="a trial is feasible when its measured generation MACs exceed its budget by at most "
        "this share (0.02 = 2%)",
    )


    @field_validator("rungs")
    @classmethod
    def _increasing_shares(cls, rungs: list[float]) -> list[float]:
        if any(not 0 < share < 1 for share in rungs) or rungs != sorted(set(rungs)):
            raise ValueError("must be increasing shares of `train.steps`, each in (0, 1), e.g. [0.25, 0.5]")
        return rungs


class Recipe(BaseModel):
    """A validated recipe (see the module docstring for the YAML layout)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the search's name (default: the recipe file's name)")
    description: str = Field("", description="free text shown by `alternas validate`")
    output_dir: str = Field(description="the run directory (default: reports/<name>)")

    @field_validator("name")
    @classmethod
    def _plain_folder_name(cls, name: str) -> str:
        if name in ("", ".", "..") or any(c in name for c in "/\\") or not name.isprintable():
            raise ValueError(
                "must be a plain folder name (no path separators, `..` or control characters), e.g. `quickstart`; "
                "set `output_dir` to choose where the run goes"
            )
        return name

    @field_validator("output_dir")
    @classmethod
    def _no_nul(cls, output_dir: str) -> str:
        if "\0" in output_dir:
            raise ValueError("must not contain a NUL character")
        return output_dir
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    hypernet: HypernetConfig = Field(default_factory=HypernetConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    space: SearchSpace
    search: SearchSettings = Field(default_factory=SearchSettings)
    report: ReportConfig = Field(default_factory=ReportConfig)

    def base_run_config(self) -> dict[str, Any]:
        """The fixed run-config sections, as a dict (JSON types); ``train.threads`` defaults to the CPUs
        one trial may use (``search.cpus_per_trial``, at least 1)."""
        data = self.model_dump(mode="json", include={"model", "data", "hypernet", "loss", "train", "eval"})
        if data["train"]["threads"] is None:
            data["train"]["threads"] = max(1, math.floor(self.search.cpus_per_trial))
        return data

    def default_steps(self) -> list[int]:
        """The sampler step counts trials use: the space's, or the recipe's ``eval.steps``."""
        return list(self.space.steps or [self.eval.steps])

    def default_samplers(self) -> list[str]:
        """The samplers trials use: the space's, or the recipe's ``eval.scheduler``."""
        return list(self.space.samplers or [self.eval.scheduler])

    def grid_size(self) -> float:
        """Distinct points of the space: the product of every search dimension's number of choices
        (``inf`` when a dimension is a range)."""
        size = 1
        for dimension in search_dimensions(self):
            choices = dimension.choices()
            if choices is None:
                return math.inf
            size *= len(choices)
        return size

    def planned_trials(self) -> int:
        """Trials the search runs: ``search.num_trials``, at most the grid's size for the grid sampler."""
        if self.search.sampler == "grid":
            return int(min(self.search.num_trials, self.grid_size()))
        return self.search.num_trials
