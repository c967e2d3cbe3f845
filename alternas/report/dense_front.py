"""The step-count baseline front of a search (``baseline.json``): the dense teacher at a ladder of
sampler step counts under every offered sampler (or those the recipe names), and where a trial stands
against it: the best a user gets for free, at each MACs.

A trial lies *beyond* the baseline when no dense point costs no more total generation MACs (up to
:data:`EQUAL_MACS`) and is at least as good (strictly better in one of the two); otherwise the cheapest
dense point that dominates it is named, e.g. ``"dominated by dense unipc @ 4 steps: FID 14.1"`` (a dense
point's step count is its cost in the report's unit, dense steps).
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._atomic import atomic_write_text
from .._readers import read_model
from ..evaluation.dense_ladder import BaselinePoint
from ..exceptions import CheckpointError
from ..pareto import dominates, pareto_front
from ..metrics import metric_name
from ..quality import SampleScores, read_scores

#: generation MACs within this share of a trial's count as no more than the trial's: a trial settled onto a
#: budget equal to a dense step count's MACs (within ``budget.tolerance``, so up to 1% below) is compared
#: with that step count, not with the one below it
EQUAL_MACS = 0.01

__all__ = ["BASELINE_FILE", "BASELINE_SCORES_FILE", "Baseline", "read_baseline", "read_baseline_scores", "write_baseline"]

logger = logging.getLogger("alternas")

#: the file in a search run directory that holds the baseline
BASELINE_FILE = "baseline.json"
#: the baseline points' per-image quality scores, ``{point key: {metric: SampleScores}}``
BASELINE_SCORES_FILE = "baseline_scores.pt"


class Baseline(BaseModel):
    """The dense teacher at several sampler step counts under one or more samplers, measured once per search.

    ``points`` are ascending in steps for each sampler, the recipe's sampler first; MACs shares are
    relative to the dense teacher with the recipe's sampler at ``reference_steps``, the largest step count
    the trials use.
    """

    model_config = ConfigDict(extra="forbid")

    format_version: int = Field(2, description="version of this file's layout (2: points name their sampler)")
    key: str = Field(description="hash of everything the numbers depend on (model, data, eval, convention)")
    scheduler: str = Field(description="the recipe's sampler (the trials'); MACs shares are of it at `reference_steps`")
    samplers_restricted: bool = Field(
        False, description="whether the recipe restricted the samplers (`report.baseline.samplers`)"
    )
    guidance_scale: float = Field(description="classifier-free guidance scale")
    num_samples: int = Field(description="images generated per point for the quality metrics")
    convention: str = Field(description="MACs counting convention")
    reference_steps: int = Field(description="the largest sampler step count the trials use")
    seconds: float = Field(0.0, description="wall time of the measurement, seconds")
    points: list[BaselinePoint]

    @model_validator(mode="after")
    def _name_samplers(self) -> Baseline:
        """Points of a format-1 file were all measured with the recipe's sampler."""
        for point in self.points:
            point.sampler = point.sampler or self.scheduler
        return self

    @property
    def samplers(self) -> list[str]:
        """The samplers measured, the recipe's first."""
        return list(dict.fromkeys(p.sampler for p in self.points))

    def quality(self, point: BaselinePoint, metric: str) -> float | None:
        """``point``'s value of ``metric`` (``None``: not measured, e.g. PSNR/SSIM, which need a reference)."""
        return point.quality.get(metric)

    def scored(self, metric: str) -> list[BaselinePoint]:
        """The points that measured ``metric``."""
        return [p for p in self.points if self.quality(p, metric) is not None]

    @property
    def dense_step_macs(self) -> float | None:
        """The dense teacher's generation MACs for one sampler step of one image (x2 with guidance): the
        report's unit of cost, one *dense step* (``None`` without points)."""
        return self.points[0].generation_macs / self.points[0].steps if self.points else None

    def front(self, metric: str, lower_is_better: bool, cost: str = "generation_macs") -> list[BaselinePoint]:
        """The non-dominated points of quality against ``cost`` (``generation_macs`` or ``latency_s``)."""
        points = self.scored(metric)
        costs = [getattr(p, cost) for p in points]
        return [points[i] for i in pareto_front(costs, [self.quality(p, metric) for p in points], lower_is_better)]

    def dominator(
        self, macs: float, quality: float, metric: str, lower_is_better: bool
    ) -> BaselinePoint | None:
        """The cheapest dense point that dominates a trial with these generation MACs and quality (dense
        MACs up to :data:`EQUAL_MACS` above the trial's count as equal), or ``None`` when the trial lies
        beyond the baseline front."""
        dominating = []
        for p in self.scored(metric):
            equal = p.generation_macs <= macs * (1 + EQUAL_MACS)
            dense_macs = min(p.generation_macs, macs) if equal else p.generation_macs
            if dominates(dense_macs, self.quality(p, metric), macs, quality, lower_is_better):
                dominating.append(p)
        sign = 1 if lower_is_better else -1
        return min(dominating, key=lambda p: (p.generation_macs, p.steps, sign * self.quality(p, metric)), default=None)

    def best_within(self, macs: float, metric: str, lower_is_better: bool) -> BaselinePoint | None:
        """The best dense point with no more generation MACs than ``macs`` (up to :data:`EQUAL_MACS`): the
        strongest free alternative at that cost (``None``: no dense point is that cheap)."""
        affordable = [p for p in self.scored(metric) if p.generation_macs <= macs * (1 + EQUAL_MACS)]
        sign = 1 if lower_is_better else -1
        return min(affordable, key=lambda p: (sign * self.quality(p, metric), p.generation_macs), default=None)

    def summary(self, point: BaselinePoint, metric: str) -> str:
        """``"FID 14.1"``: the point's quality (its cost is its step count)."""
        return f"{metric_name(metric)} {self.quality(point, metric):.4g}"

    def label(self, point: BaselinePoint) -> str:
        """``"dense unipc @ 4 steps"``."""
        return f"dense {point.sampler} @ {point.steps} steps"

    def describe(self, point: BaselinePoint, metric: str) -> str:
        """``"dense unipc @ 4 steps: FID 14.1"``."""
        return f"{self.label(point)}: {self.summary(point, metric)}"

    def best_per_sampler(self, metric: str, lower_is_better: bool) -> str | None:
        """The sampler whose dense points are best on average rank across the step counts all samplers share
        (``None`` with a single sampler)."""
        if len(self.samplers) < 2:
            return None
        shared = set.intersection(*({p.steps for p in self.scored(metric) if p.sampler == s} for s in self.samplers))
        if not shared:
            return None
        sign = 1 if lower_is_better else -1
        score = {s: 0.0 for s in self.samplers}
        for steps in shared:
            ranked = sorted(
                (p for p in self.scored(metric) if p.steps == steps), key=lambda p: sign * self.quality(p, metric)
            )
            for rank, point in enumerate(ranked):
                score[point.sampler] += rank
        return min(self.samplers, key=lambda s: score[s])

def read_baseline(run_dir: str | Path) -> Baseline | None:
    """The run directory's baseline; ``None`` when it has none or the file is unreadable (logged)."""
    path = Path(run_dir) / BASELINE_FILE
    if not path.is_file():
        return None
    try:
        return read_model(path, Baseline)
    except CheckpointError as error:
        logger.warning("ignoring the baseline: %s", error)
        return None


def read_baseline_scores(run_dir: str | Path) -> dict[str, dict[str, SampleScores]]:
    """The baseline points' per-image scores by :attr:`BaselinePoint.key` (empty when absent or damaged)."""
    return read_scores(Path(run_dir) / BASELINE_SCORES_FILE) or {}


def write_baseline(run_dir: str | Path, baseline: Baseline) -> Path:
    """Write ``baseline.json`` atomically and durably."""
    return atomic_write_text(Path(run_dir) / BASELINE_FILE, baseline.model_dump_json(indent=2))
