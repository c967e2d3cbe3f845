"""Build a :class:`Report` from a search run directory: fronts, roles, teacher references, winner, protocol."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ReportConfig
from ..exceptions import CheckpointError, ConfigError
from ..metrics import QUALITY_METRICS, lower_is_better
from ..pareto import trial_front
from .baseline import Baseline, read_baseline
from .protocol import describe_protocol
from .trials import (
    UNREADABLE,
    TeacherReference,
    TrialEntry,
    read_report_config,
    read_trials,
    teacher_references,
)
from .winner import WinnerChoice, choose_winner

__all__ = ["Report", "build_report"]

#: 2: costs also in dense steps (`dense_step_macs`, each trial's `dense_steps`), no baseline `macs_share`
_FORMAT_VERSION = 2


@dataclass
class Report:
    """Everything a report shows, before rendering.

    Attributes:
        run_dir: the search run directory.
        config: the report section used (quality metric, winner rule).
        entries: every trial, with its role.
        teachers: the dense teacher at each sampler setting the trials used.
        front: ids of the quality-vs-MACs Pareto front, by increasing MACs.
        latency_front: ids of the quality-vs-latency Pareto front, by increasing latency.
        baseline: the dense step-count baseline (``None``: the run has none, or it lacks the quality
            metric, e.g. PSNR/SSIM, which compare with the teacher).
        winner: the recommended trial and why.
        protocol: ``(label, value)`` rows describing how every number was measured.
        generated_at: ISO time the report was built.
        figures: figure name -> path relative to ``run_dir`` (filled when written).
    """

    run_dir: Path
    config: ReportConfig
    entries: list[TrialEntry]
    teachers: list[TeacherReference]
    front: list[str]
    latency_front: list[str]
    baseline: Baseline | None
    winner: WinnerChoice
    protocol: list[tuple[str, str]]
    generated_at: str
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def lower_is_better(self) -> bool:
        """Whether a lower value of the quality metric is better."""
        return lower_is_better(self.config.quality_metric)

    def entry(self, trial_id: str) -> TrialEntry:
        """The entry of one trial."""
        for entry in self.entries:
            if entry.trial_id == trial_id:
                return entry
        raise KeyError(trial_id)

    @property
    def front_entries(self) -> list[TrialEntry]:
        """The front's trials, by increasing MACs."""
        return [self.entry(trial_id) for trial_id in self.front]

    @property
    def dense_step_macs(self) -> float | None:
        """One *dense step*, the report's unit of cost: the dense teacher's generation MACs for one sampler
        step of one image (x2 with guidance), from the baseline or else from a trial's teacher."""
        if self.baseline is not None and self.baseline.dense_step_macs:
            return self.baseline.dense_step_macs
        return next((e.dense_step_macs for e in self.entries if e.dense_step_macs), None)

    def baseline_label(self, entry: TrialEntry) -> str:
        """``"beyond"``, ``"dominated by dense unipc @ 4 steps: FID 14.1"``, or ``"-"``."""
        if entry.beyond_baseline is None or self.baseline is None:
            return "-"
        if entry.beyond_baseline:
            return "beyond"
        return f"dominated by {self.baseline.describe(entry.dominated_by, self.config.quality_metric)}"

    def baseline_comparison(self, trial_id: str) -> dict[str, Any] | None:
        """How one trial stands against the baseline (recorded in an export's ``experts.yaml``).

        Returns:
            ``None`` without a baseline; else ``beyond``, ``label``, the dominating dense point
            (``dominated_by``: sampler, steps, quality, generation MACs) and the report's ``dense_steps``
            advice (the dense step count to run instead when no trial beats the baseline).
        """
        entry = self.entry(trial_id)
        if self.baseline is None or entry.beyond_baseline is None:
            return None
        point = entry.dominated_by
        metric = self.config.quality_metric
        return {
            "quality_metric": metric,
            "beyond": entry.beyond_baseline,
            "label": self.baseline_label(entry),
            "dominated_by": None
            if point is None
            else {
                "sampler": point.sampler,
                "steps": point.steps,
                "quality": self.baseline.quality(point, metric),
                "generation_macs": point.generation_macs,
            },
            "dense_steps_instead": self.winner.dense_steps,
            "dense_sampler_instead": self.winner.dense_sampler,
            "baseline_steps": sorted({p.steps for p in self.baseline.points}),
            "baseline_samplers": self.baseline.samplers,
            "reference_steps": self.baseline.reference_steps,
        }

    @property
    def winner_entry(self) -> TrialEntry | None:
        """The winner's entry (``None`` when there is no winner)."""
        return None if self.winner.trial_id is None else self.entry(self.winner.trial_id)

    def to_dict(self) -> dict[str, Any]:
        """Every number of the report, JSON-serialisable (written as ``frontier.json``); an infinite or
        NaN number is ``None`` (standard JSON has neither)."""
        data = {
            "format_version": _FORMAT_VERSION,
            "run_dir": str(self.run_dir),
            "generated_at": self.generated_at,
            "report_config": self.config.model_dump(mode="json"),
            "quality_metric": self.config.quality_metric,
            "lower_is_better": self.lower_is_better,
            "dense_step_macs": self.dense_step_macs,
            "winner": {
                "trial_id": self.winner.trial_id,
                "rule": self.winner.rule,
                "qualified": self.winner.qualified,
                "message": self.winner.message,
                "dense_steps": self.winner.dense_steps,
            },
            "front": self.front,
            "latency_front": self.latency_front,
            "baseline": self._baseline_dict(),
            "teachers": [
                {
                    "label": t.label,
                    "scheduler": t.scheduler,
                    "steps": t.steps,
                    "guidance_scale": t.guidance_scale,
                    "quality": t.quality,
                    "generation_macs": t.macs,
                    "latency_s": t.latency_s,
                    "trials": t.trials,
                }
                for t in self.teachers
            ],
            "trials": [
                {**_entry_dict(entry), "baseline": self.baseline_label(entry)} for entry in self.entries
            ],
            "protocol": dict(self.protocol),
            "figures": self.figures,
        }
        return _finite(data)

    def _baseline_dict(self) -> dict[str, Any] | None:
        if self.baseline is None:
            return None
        metric, lower = self.config.quality_metric, self.lower_is_better
        front = self.baseline.front(metric, lower)
        on_front = {id(p) for p in front}
        return {
            "scheduler": self.baseline.scheduler,
            "samplers": self.baseline.samplers,
            "samplers_restricted": self.baseline.samplers_restricted,
            "guidance_scale": self.baseline.guidance_scale,
            "num_samples": self.baseline.num_samples,
            "reference_steps": self.baseline.reference_steps,
            "front": [self.baseline.label(p) for p in front],
            "latency_front": [self.baseline.label(p) for p in self.baseline.front(metric, lower, "latency_s")],
            "points": [
                {
                    "sampler": p.sampler,
                    "steps": p.steps,
                    "quality": self.baseline.quality(p, metric),
                    "metrics": p.quality,
                    "generation_macs": p.generation_macs,
                    "latency_s": p.latency_s,
                    "on_front": id(p) in on_front,
                }
                for p in self.baseline.points
            ],
        }


def build_report(run_dir: str | Path, config: ReportConfig | None = None) -> Report:
    """Read a search run directory and rank its trials.

    Args:
        run_dir: the folder ``alternas search`` wrote.
        config: the report section; ``None`` reads ``report:`` from the run's ``recipe.yaml``.

    Raises:
        CheckpointError: not a search run directory, or no finished trial.
        ConfigError: the quality metric was not measured by any trial, or the winner rule is misconfigured.
    """
    run_dir = Path(run_dir)
    config = config or read_report_config(run_dir)
    metric = config.quality_metric
    entries = read_trials(run_dir, metric)
    finished = [e for e in entries if e.status == "finished" and e.plan is not None]
    if all(e.quality is None for e in finished):
        measured = sorted(
            {k for e in finished for k in QUALITY_METRICS if e.metrics.quality(k) is not None}
        )
        if not measured and any(e.damage for e in finished):  # the metrics are lost, not unmeasured
            raise CheckpointError(
                f"`{run_dir}`: no finished trial has readable metrics"
                + "".join(f"; trial {e.trial_id}: {e.damage}" for e in entries if e.damage)
            )
        raise ConfigError(
            f"`report.quality_metric` is `{metric}`, but no trial measured it (measured: "
            f"{', '.join(measured) or 'none'}); set `report.quality_metric` to one of those"
        )
    lower = lower_is_better(metric)
    eligible = [e for e in entries if e.eligible]
    front = trial_front(eligible, lambda e: e.quality, lambda e: e.macs, lower)
    front_ids = [e.trial_id for e in front]
    latency_ids = [e.trial_id for e in trial_front(eligible, lambda e: e.quality, lambda e: e.latency_s, lower)]
    baseline = read_baseline(run_dir)
    if baseline is not None and not baseline.scored(metric):
        baseline = None  # PSNR/SSIM compare with the teacher: the dense model has no value of its own
    for entry in entries:
        entry.role = _role(entry, front_ids)
        entry.on_latency_front = entry.trial_id in latency_ids
        if baseline is not None and entry.scored:
            point = baseline.dominator(entry.macs, entry.quality, metric, lower)
            entry.beyond_baseline = point is None
            entry.dominated_by = point
    return Report(
        run_dir=run_dir,
        config=config,
        entries=entries,
        teachers=teacher_references(entries, metric),
        front=front_ids,
        latency_front=latency_ids,
        baseline=baseline,
        winner=choose_winner(config, eligible, front, baseline),
        protocol=describe_protocol(entries, run_dir),
        generated_at=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    )


def _role(entry: TrialEntry, front: list[str]) -> str:
    if entry.status in ("failed", UNREADABLE):
        return "failed"
    if entry.status == "stopped":
        return "stopped"
    if entry.status != "finished":
        return "unfinished"
    if not entry.scored:
        return "unscored"
    if entry.feasible is False:
        return "infeasible"
    return "front" if entry.trial_id in front else "dominated"


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float inside it replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _entry_dict(entry: TrialEntry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "trial_id": entry.trial_id,
        "status": entry.status,
        "role": entry.role,
        "on_latency_front": entry.on_latency_front,
        "beyond_baseline": entry.beyond_baseline,
        "dominated_by_dense_steps": entry.dominated_by.steps if entry.dominated_by else None,
        "dominated_by_dense_sampler": entry.dominated_by.sampler if entry.dominated_by else None,
        "feasible": entry.feasible,
        "params": entry.params,
        "seed": entry.seed,
        "error": entry.error,
        "quality": entry.quality,
        "generation_macs": entry.macs,
        "dense_steps": entry.dense_steps,
        "latency_s": entry.latency_s,
        "metrics": entry.metrics.values(),
        "directory": str(entry.directory),
    }
    plan = entry.plan
    if plan is not None:
        data["plan"] = {
            "routing_mode": plan.routing_mode,
            "experts": [
                {
                    "index": e.index,
                    "kept_units": len(e.keep),
                    "skipped_units": len(e.skip),
                    "skip": e.skip,
                    "macs_per_step": e.macs_per_step,
                    "macs_share": e.macs_share,
                    "sampler_steps": e.sampler_steps,
                }
                for e in plan.experts
            ],
            "sampler_routing": [i.model_dump() for i in plan.sampler.intervals],
            "macs": plan.macs.model_dump(),
        }
    return data
