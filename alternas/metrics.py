"""A trial's metrics: the quality metrics (names, display labels, better direction) and the typed record
of everything one ALTER run measured (``metrics.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "QualityMetricName",
    "MetricSpec",
    "METRIC_SPECS",
    "QUALITY_METRICS",
    "LOWER_IS_BETTER",
    "TIMING_FIELDS",
    "lower_is_better",
    "metric_name",
    "metric_spec",
    "quality_label",
    "TrialMetrics",
]

#: a quality metric's name, as recipes write it (``eval.metrics``, ``report.quality_metric``)
QualityMetricName = Literal["fid", "accuracy", "psnr", "ssim", "clip"]


@dataclass(frozen=True)
class MetricSpec:
    """Everything the rest of alternas asks about one quality metric, declared once.

    Attributes:
        name: as recipes write it (``eval.metrics``, ``report.quality_metric``).
        label: display name, e.g. ``"FID"``, ``"PSNR (dB)"``.
        lower_is_better: the better direction.
        against_teacher: the metric compares the experts' images with the dense teacher's on the same noise
            (PSNR, SSIM): it has no value of its own for a dense model, so dense points carry none.
        teacher_value: with ``against_teacher``, the teacher's own value (SSIM of an image with itself is
            1; PSNR is unbounded: ``None``). Without it, the teacher is scored like any model.
    """

    name: str
    label: str
    lower_is_better: bool = False
    against_teacher: bool = False
    teacher_value: float | None = None

    @property
    def has_teacher_value(self) -> bool:
        """Whether a dense teacher has a finite value of this metric to compare with."""
        return not self.against_teacher or self.teacher_value is not None


#: every quality metric by name, in display order
METRIC_SPECS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("fid", "FID", lower_is_better=True),
        MetricSpec("accuracy", "accuracy"),
        MetricSpec("psnr", "PSNR (dB)", against_teacher=True, teacher_value=None),
        MetricSpec("ssim", "SSIM", against_teacher=True, teacher_value=1.0),
        MetricSpec("clip", "CLIP score"),
    )
}
assert tuple(METRIC_SPECS) == get_args(QualityMetricName)

#: every quality metric, in display order
QUALITY_METRICS: tuple[str, ...] = tuple(METRIC_SPECS)

#: quality metrics where a lower value is better (every other one: higher is better)
LOWER_IS_BETTER = frozenset(name for name, spec in METRIC_SPECS.items() if spec.lower_is_better)

#: :class:`TrialMetrics` fields measured with a clock: they differ between runs that are otherwise the same
TIMING_FIELDS = frozenset({"latency_s", "teacher_latency_s", "speedup", "train_seconds"})


def metric_spec(metric: str) -> MetricSpec:
    """The declaration of ``metric`` (an unknown name gets a higher-is-better spec labelled by its name)."""
    return METRIC_SPECS.get(metric) or MetricSpec(metric, metric)


def lower_is_better(metric: str) -> bool:
    """Whether a lower value of ``metric`` is better (``True`` for FID)."""
    return metric_spec(metric).lower_is_better


def metric_name(metric: str) -> str:
    """Display name of a quality metric, e.g. ``"FID"``."""
    return metric_spec(metric).label


def quality_label(metric: str) -> str:
    """Display name of a quality metric with its direction, e.g. ``"FID (lower is better)"``."""
    return f"{metric_name(metric)} ({'lower' if lower_is_better(metric) else 'higher'} is better)"


class TrialMetrics(BaseModel):
    """What one ALTER run measured, stored once as its ``metrics.json``.

    Every field is optional: a run trained without evaluation has only the training fields, a trial
    stopped at a successive-halving rung only the rung's. MACs count multiply-accumulates per sample
    (``generation_macs`` includes the x2 of classifier-free guidance); times are wall-clock seconds;
    shares are fractions of the dense teacher.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # quality of the experts' samples (the recipe's ``eval.metrics``)
    fid: float | None = Field(None, description="Frechet distance to the reference set (lower is better)")
    accuracy: float | None = Field(None, description="share of samples the classifier reads as their label")
    psnr: float | None = Field(None, description="PSNR of the experts' samples against the teacher's, dB")
    ssim: float | None = Field(None, description="SSIM of the experts' samples against the teacher's")
    clip: float | None = Field(None, description="CLIP score of the samples against their prompts")
    # the dense teacher's quality on the same noise and conditions
    teacher_fid: float | None = None
    teacher_accuracy: float | None = None
    teacher_clip: float | None = None

    # cost of the experts and of the teacher
    macs_per_step: float | None = Field(None, description="measured MACs of one denoiser call, mean over steps")
    macs_share: float | None = Field(None, description="experts' MACs over the teacher's, whole sampling run")
    generation_macs: float | None = Field(None, description="MACs to generate one sample")
    latency_s: float | None = Field(None, description="seconds to generate one latency batch")
    teacher_macs_per_step: float | None = Field(None, description="dense MACs of one denoiser call")
    teacher_generation_macs: float | None = Field(None, description="dense MACs to generate one sample")
    teacher_latency_s: float | None = Field(None, description="seconds the teacher takes for the latency batch")
    speedup: float | None = Field(None, description="teacher latency over experts' latency")
    ideal_speedup: float | None = Field(None, description="teacher MACs over experts' MACs")
    experts_in_use: int | None = Field(None, description="experts the routing uses over the sampler's timesteps")
    routing_intervals_max: int | None = Field(None, description="most timestep intervals routed to one expert")

    # the evaluation protocol
    steps: int | None = Field(None, description="sampler steps")
    scheduler: str | None = Field(None, description="sampler (diffusers scheduler) name")
    guidance_scale: float | None = None
    num_samples: int | None = Field(None, description="samples scored")
    latency_batch_size: int | None = Field(None, description="samples per timed generation")

    # training
    train_seconds: float | None = Field(None, description="wall-clock seconds of training and evaluation")
    hard_macs_share_planned: float | None = Field(None, description="MACs share the expert plan computes")
    target_macs_share: float | None = Field(None, description="the recipe's ``budget.macs_share``")

    # a search trial's budget (:meth:`alternas.search.objectives.Objectives.with_budget`)
    budget_generation_macs: float | None = Field(None, description="MACs per sample the trial's budget allows")
    macs_over_budget: float | None = Field(None, description="generation_macs over the budget, minus 1")
    budget_constraint: float | None = Field(None, description="Optuna constraint value (feasible when <= 0)")

    # a trial stopped by successive halving: the results at its last rung
    rung: int | None = None
    step: int | None = Field(None, description="training step of the rung")
    rung_quality: float | None = None
    rung_generation_macs: float | None = None
    rung_budget_generation_macs: float | None = None
    rung_budget_constraint: float | None = None

    def quality(self, metric: str) -> float | None:
        """The experts' value of the quality metric ``metric`` (``None`` if not measured)."""
        return getattr(self, metric) if metric in QUALITY_METRICS else None

    def teacher_quality(self, metric: str) -> float | None:
        """The dense teacher's value of ``metric``.

        A metric measured against the teacher (:attr:`MetricSpec.against_teacher`: PSNR, SSIM) has its
        declared teacher value (SSIM 1, PSNR unbounded: ``None``).
        """
        spec = metric_spec(metric)
        if spec.against_teacher:
            return spec.teacher_value
        return getattr(self, f"teacher_{metric}", None)

    def values(self) -> dict[str, float | int | str]:
        """The measured fields by name (the ``metrics.json`` content, without the unmeasured ones)."""
        return self.model_dump(exclude_none=True)
