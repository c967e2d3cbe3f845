"""Build a :class:`Report` from a search run directory: fronts, roles, teacher references, winner, protocol."""

from __future__ import annotations

import datetime
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ReportConfig
from ..exceptions import CheckpointError, ConfigError
from ..metrics import QUALITY_METRICS, lower_is_better, metric_name
from ..pareto import trial_front
from ..quality import Interval, interval
from ..rundir import SearchRunDir
from .dense_front import Baseline, read_baseline, read_baseline_scores
from .formatting import format_interval
from .protocol import describe_protocol
from .trial_entries import (
    UNREADABLE,
    TeacherReference,
    TrialEntry,
    read_report_config,
    read_trials,
    teacher_references,
)
from .uncertainty import ConfirmedConfiguration, TrialScores, confirm_configurations, lies_beyond, trial_intervals
from .winner import WinnerChoice, choose_winner

__all__ = ["Report", "build_report"]

#: 2: costs also in dense steps (`dense_step_macs`, each trial's `dense_steps`), no baseline `macs_share`;
#: 3: intervals (trials' `interval`, `versus_dense`, `versus_teacher`, dense points' `interval`), `confirmed`
_FORMAT_VERSION = 3


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
        baseline_intervals: each dense point's quality interval by :attr:`BaselinePoint.key`.
        confirmed: the confirmed configurations by search trial id (empty: no confirmation ran).
        confirmations: every confirmation run (finished or not).
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
    baseline_intervals: dict[str, Interval] = field(default_factory=dict)
    confirmed: dict[str, ConfirmedConfiguration] = field(default_factory=dict)
    confirmations: list[TrialEntry] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def lower_is_better(self) -> bool:
        """Whether a lower value of the quality metric is better."""
        return lower_is_better(self.config.quality_metric)

    def entry(self, trial_id: str) -> TrialEntry:
        """The entry of one trial or confirmation run."""
        for entry in (*self.entries, *self.confirmations):
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
        """Where a trial stands against the dense baseline, with the paired interval when there is one:
        ``"beyond dense unipc @ 5 steps: FID -0.45 [-0.70, -0.20]"``, ``"within noise of dense unipc @ 5
        steps: FID -0.12 [-0.35, +0.11]"``, ``"dominated by dense unipc @ 4 steps: FID 14.1 (+0.41 [+0.10,
        +0.72])"``, ``"beyond (no dense point this cheap)"``, ``"beyond (no interval)"`` (no per-image scores: the point
        estimates), or ``"-"``."""
        if entry.beyond_baseline is None or self.baseline is None:
            return "-"
        metric = self.config.quality_metric
        if entry.dominated_by is not None:
            difference = f" ({format_interval(entry.versus_dense, signed=True)})" if entry.versus_dense else ""
            return f"dominated by {self.baseline.describe(entry.dominated_by, metric)}{difference}"
        if entry.compared_with is None:
            return "beyond (no dense point this cheap)"
        name = f"{self.baseline.label(entry.compared_with)}: {metric_name(metric)}"
        if entry.versus_dense is None:
            return "beyond (no interval)"
        verdict = "beyond" if entry.beyond_baseline else "within noise of"
        return f"{verdict} {name} {format_interval(entry.versus_dense, signed=True)}"

    @property
    def reproducibility(self) -> str | None:
        """One sentence: how much of a front point's quality is training seed and how much evaluation noise,
        from the confirmation runs (``None`` without two runs of a configuration)."""
        runs = [c for c in self.confirmed.values() if len(c.runs) > 1]
        if not runs:
            return None
        metric = metric_name(self.config.quality_metric)
        squares = sum(statistics.variance([r.quality for r in c.runs]) * (len(c.runs) - 1) for c in runs)
        dof = sum(len(c.runs) - 1 for c in runs)
        noise = [r.interval.sd for c in runs for r in c.runs if r.interval is not None]
        paired = [r.versus_dense.sd for c in runs for r in c.runs if r.versus_dense is not None]
        noise_text = (
            f"; evaluation noise (other noise, same model, {runs[0].runs[0].metrics.num_samples or '?'} images) "
            f"moves it by sd {statistics.median(noise):.3g}" if noise else ""
        ) + (f" and its difference with the dense point it is judged against by sd {statistics.median(paired):.3g}"
             if noise and paired else "")
        return (
            f"Reproducibility: retrained with another seed, a configuration's {metric} moves by sd "
            f"{math.sqrt(squares / dof):.3g} (pooled over {len(runs)} configurations, {dof + len(runs)} runs)"
            f"{noise_text}."
        )

    def baseline_comparison(self, trial_id: str) -> dict[str, Any] | None:
        """How one trial stands against the baseline (recorded in an export's ``experts.yaml``).

        Returns:
            ``None`` without a baseline; else ``beyond``, ``label``, the trial's quality interval and its
            paired difference with the dense point it is judged against, the dominating dense point
            (``dominated_by``: sampler, steps, quality, generation MACs), the confirmed numbers of its
            configuration (``confirmed``: seeds, mean and interval, the run an export ships and why) and
            the report's ``dense_steps`` advice (the dense step count to run instead when no trial beats
            the baseline).
        """
        entry = self.entry(trial_id)
        if self.baseline is None or entry.beyond_baseline is None:
            return None
        point = entry.dominated_by
        metric = self.config.quality_metric
        confirmed = self.confirmed.get(trial_id)
        return {
            "quality_metric": metric,
            "beyond": entry.beyond_baseline,
            "label": self.baseline_label(entry),
            "interval": _interval_dict(entry.interval),
            "versus_dense": _interval_dict(entry.versus_dense),
            "compared_with": None
            if entry.compared_with is None
            else {"sampler": entry.compared_with.sampler, "steps": entry.compared_with.steps},
            "confirmed": None
            if confirmed is None
            else {
                "seeds": [run.seed for run in confirmed.runs],
                "quality": confirmed.quality.to_dict(),
                "versus_dense": _interval_dict(confirmed.versus_dense),
                "shipped_run": confirmed.shipped.trial_id,
                "shipped_quality": confirmed.shipped.quality,
                "why_this_run": "the run whose quality is nearest the configuration's confirmed mean",
            },
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
                "confirmed": self.winner.confirmed,
                "shipped_run": self.winner.shipped_run,
            },
            "confidence": self.config.confidence,
            "confirmed": [
                {
                    "trial_id": c.trial_id,
                    "runs": [{"trial_id": r.trial_id, "seed": r.seed, "quality": r.quality} for r in c.runs],
                    "quality": c.quality.to_dict(),
                    "versus_dense": _interval_dict(c.versus_dense),
                    "versus_teacher": _interval_dict(c.versus_teacher),
                    "shipped_run": c.shipped.trial_id,
                }
                for c in self.confirmed.values()
            ],
            "confirmations": [
                {**_entry_dict(entry), "confirms": entry.confirms, "baseline": self.baseline_label(entry)}
                for entry in self.confirmations
            ],
            "reproducibility": self.reproducibility,
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
                    "interval": _interval_dict(self.baseline_intervals.get(p.key)),
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
    dense_scores = read_baseline_scores(run_dir) if baseline is not None else {}
    for entry in entries:
        entry.role = _role(entry, front_ids)
        entry.on_latency_front = entry.trial_id in latency_ids
        _judge(entry, baseline, dense_scores, config)
    confirmations = _read_confirmations(run_dir, metric)
    for entry in confirmations:
        _judge(entry, baseline, dense_scores, config)
    confirmed = _confirmed(entries, confirmations, dense_scores, config)
    baseline_intervals = {
        p.key: interval(dense_scores[p.key][metric], config.confidence)
        for p in (baseline.scored(metric) if baseline is not None else [])
        if metric in dense_scores.get(p.key, {})
    }
    return Report(
        run_dir=run_dir,
        config=config,
        entries=entries,
        teachers=teacher_references(entries, metric),
        front=front_ids,
        latency_front=latency_ids,
        baseline=baseline,
        winner=choose_winner(config, eligible, front, baseline, confirmed),
        protocol=describe_protocol(entries, run_dir),
        generated_at=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        baseline_intervals=baseline_intervals,
        confirmed=confirmed,
        confirmations=confirmations,
    )


def _judge(
    entry: TrialEntry, baseline: Baseline | None, dense_scores: dict[str, dict[str, Any]], config: ReportConfig
) -> None:
    """Set a scored entry's intervals and, with a baseline, where it stands against it."""
    if not entry.scored:
        return
    metric, lower = config.quality_metric, lower_is_better(config.quality_metric)
    if baseline is not None:
        entry.dominated_by = baseline.dominator(entry.macs, entry.quality, metric, lower)
        entry.compared_with = entry.dominated_by or baseline.best_within(entry.macs, metric, lower)
    dense = dense_scores.get(entry.compared_with.key, {}).get(metric) if entry.compared_with is not None else None
    entry.interval, entry.versus_dense, entry.versus_teacher = trial_intervals(
        entry, TrialScores.read(entry), metric, dense, config.confidence
    )
    if baseline is None:
        return
    entry.beyond_baseline = lies_beyond(entry.dominated_by is not None, entry.versus_dense, lower)


def _read_confirmations(run_dir: Path, metric: str) -> list[TrialEntry]:
    """The run directory's confirmation runs (empty when none ran)."""
    layout = SearchRunDir(run_dir).confirmations()
    if not layout.trials_dir.is_dir():
        return []
    return read_trials(run_dir, metric, layout=layout)


def _confirmed(
    entries: list[TrialEntry], confirmations: list[TrialEntry], dense_scores: dict[str, dict[str, Any]],
    config: ReportConfig,
) -> dict[str, ConfirmedConfiguration]:
    """The confirmed configurations: each search trial's finished confirmation runs, aggregated."""
    metric = config.quality_metric
    searched = {entry.trial_id: entry for entry in entries}
    groups: dict[str, list[TrialEntry]] = {}
    for run in confirmations:
        if run.confirms in searched:
            groups.setdefault(run.confirms, [])
            if run.scored:
                groups[run.confirms].append(run)
    dense = {}
    for trial_id in groups:
        point = searched[trial_id].compared_with
        dense[trial_id] = dense_scores.get(point.key, {}).get(metric) if point is not None else None
    return confirm_configurations(groups, metric, dense, config.confidence)


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


def _interval_dict(interval: Interval | None) -> dict[str, float] | None:
    return interval.to_dict() if interval is not None else None


def _entry_dict(entry: TrialEntry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "trial_id": entry.trial_id,
        "status": entry.status,
        "role": entry.role,
        "on_latency_front": entry.on_latency_front,
        "beyond_baseline": entry.beyond_baseline,
        "dominated_by_dense_steps": entry.dominated_by.steps if entry.dominated_by else None,
        "dominated_by_dense_sampler": entry.dominated_by.sampler if entry.dominated_by else None,
        "compared_with": {"sampler": entry.compared_with.sampler, "steps": entry.compared_with.steps}
        if entry.compared_with
        else None,
        "interval": _interval_dict(entry.interval),
        "versus_dense": _interval_dict(entry.versus_dense),
        "versus_teacher": _interval_dict(entry.versus_teacher),
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
