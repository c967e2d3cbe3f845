"""Read a search run directory into report entries: one per trial, plus the dense-teacher references."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


from .._readers import read_json, read_model, read_yaml
from .._validation import validate_config
from ..config import ReportConfig, RunConfig
from ..evaluation.dense_ladder import BaselinePoint
from ..exceptions import CheckpointError
from .. import pareto
from ..plan import ExpertPlan
from ..quality import Interval
from ..metrics import TrialMetrics
from ..rundir import RUN_FILES, SearchRunDir, TrialRecord

__all__ = [
    "TrialRole",
    "TrialEntry",
    "TeacherReference",
    "read_report_config",
    "read_trials",
    "teacher_references",
]

#: where a trial stands in the report
TrialRole = Literal["front", "dominated", "infeasible", "unscored", "failed", "stopped", "unfinished"]

#: status of a trial whose ``trial.json`` or ``metrics.json`` cannot be read (reported with failed
#: trials, never the winner)
UNREADABLE = "unreadable"


@dataclass
class TrialEntry:
    """One trial as the report sees it.

    Attributes:
        trial_id: the trial's folder name under ``trials/``.
        status: the search's status (``finished``, ``failed``, ``running``, ``pending``).
        role: where the trial stands (set by :func:`~alternas.report.build_report`).
        directory: the trial's run directory.
        feasible: whether it met the recipe's constraints (``None``: not judged, counted as feasible).
        params: the sampled search values (dotted keys).
        seed: the trial's seed.
        error: why it failed, if it did.
        metrics: ``metrics.json`` (quality, MACs, latency of experts and teacher; for a trial stopped at a
            rung, the rung's results).
        plan: the experts and routing (``None`` for unfinished and failed trials).
        history: training curves (``history.json``), one dict per logged iteration.
        config: the trial's resolved run config (``None`` when unreadable).
        quality: the report's quality metric (``None`` when not measured).
        macs: total generation MACs per image (all sampler steps, x2 with guidance).
        latency_s: measured sampling time of one latency batch, seconds.
        on_latency_front: whether the trial is on the quality-vs-latency front.
        beyond_baseline: whether the trial lies beyond the dense step-count baseline: no dense point
            dominates it and, where both have per-image scores, its paired interval against
            ``compared_with`` lies wholly on the better side (``None``: not compared: no baseline, or the
            trial or the baseline lacks the quality metric).
        dominated_by: the cheapest dense baseline point (sampler and step count) that dominates the trial.
        confirms: for a confirmation run, the search trial whose configuration it retrains.
        compared_with: the dense point the trial is judged against: ``dominated_by``, else the best dense
            point with no more generation MACs (``None``: none is that cheap).
        interval: the trial's quality with its interval over the evaluation images.
        versus_dense: the trial minus ``compared_with``, paired on the same evaluation images.
        versus_teacher: the trial minus its own dense teacher (same sampler and steps), paired.
        damage: what is damaged or missing in the trial's folder, when anything is (the file named):
            a finished trial whose plan or config is lost counts as failed, one whose ``history.json``
            is lost keeps its place (only the curves are gone), one without ``metrics.json`` is unscored.
    """

    trial_id: str
    status: str
    directory: Path
    feasible: bool | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    error: str | None = None
    metrics: TrialMetrics = field(default_factory=TrialMetrics)
    plan: ExpertPlan | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    config: RunConfig | None = None
    quality: float | None = None
    macs: float | None = None
    latency_s: float | None = None
    role: TrialRole = "unfinished"
    on_latency_front: bool = False
    beyond_baseline: bool | None = None
    dominated_by: BaselinePoint | None = None
    confirms: str | None = None
    compared_with: BaselinePoint | None = None
    interval: Interval | None = None
    versus_dense: Interval | None = None
    versus_teacher: Interval | None = None
    damage: str | None = None

    @property
    def scored(self) -> bool:
        """Finished, with a plan, the quality metric and MACs."""
        return self.status == "finished" and self.plan is not None and None not in (self.quality, self.macs)

    @property
    def dense_step_macs(self) -> float | None:
        """One *dense step*, the report's unit of cost: the dense teacher's generation MACs for one sampler
        step of one image (x2 with guidance), from the trial's teacher. ``None`` when unmeasured."""
        dense_total, steps = self.metrics.teacher_generation_macs, self.metrics.steps
        return dense_total / steps if dense_total and steps else None

    @property
    def dense_steps(self) -> float | None:
        """The trial's total generation MACs in dense steps (:attr:`dense_step_macs`); ``None`` when unmeasured."""
        step = self.dense_step_macs
        return self.macs / step if self.macs and step else None

    @property
    def eligible(self) -> bool:
        """May stand on the front and win (:func:`~alternas.pareto.eligible`)."""
        return pareto.eligible(self, self.quality, self.macs)

    @property
    def protocol_key(self) -> tuple[str, int, float]:
        """``(scheduler, steps, guidance_scale)``: trials with equal keys share a teacher reference."""
        return (
            self.metrics.scheduler or "?",
            self.metrics.steps or 0,
            self.metrics.guidance_scale if self.metrics.guidance_scale is not None else 1.0,
        )


@dataclass
class TeacherReference:
    """The dense teacher at one sampler setting (median over the trials evaluated with it).

    Attributes:
        scheduler: sampler name.
        steps: sampler steps.
        guidance_scale: classifier-free guidance scale.
        quality: the teacher's value of the report's quality metric (``None``: undefined, e.g. PSNR).
        macs: total generation MACs per image.
        latency_s: sampling time of one latency batch, seconds.
        trials: ids of the trials evaluated at this setting.
    """

    scheduler: str
    steps: int
    guidance_scale: float
    quality: float | None
    macs: float
    latency_s: float
    trials: list[str]

    @property
    def label(self) -> str:
        """Short name, e.g. ``"dense ddim @ 10 steps"``."""
        guidance = f", cfg {self.guidance_scale:g}" if self.guidance_scale > 1 else ""
        return f"dense {self.scheduler} @ {self.steps} steps{guidance}"


def read_report_config(run_dir: str | Path) -> ReportConfig:
    """The ``report:`` section of the run's ``recipe.yaml`` (defaults when absent).

    Raises:
        ConfigError: the section is malformed.
    """
    recipe_file = SearchRunDir(run_dir).recipe_file
    section = read_yaml(recipe_file).get("report") if recipe_file.is_file() else None
    return validate_config(ReportConfig, section or {}, recipe_file, prefix="report")


def read_trials(run_dir: str | Path, quality_metric: str, layout: SearchRunDir | None = None) -> list[TrialEntry]:
    """Every trial of a search run directory, sorted by trial id.

    Args:
        run_dir: the search run directory.
        quality_metric: the report's quality metric.
        layout: whose runs to read (default: the search's trials; :meth:`SearchRunDir.confirmations`: the
            confirmation runs, which may all be unfinished).

    Raises:
        CheckpointError: ``run_dir`` is not a search run directory, or no trial finished.
    """
    confirmations = layout is not None
    layout = layout or SearchRunDir(run_dir)
    if not layout.trials_dir.is_dir():
        hint = (
            " (it is a single run; export it directly)" if (layout.root / RUN_FILES["plan"]).is_file() else ""
        )
        raise CheckpointError(
            f"`{layout.root}` is not a search run directory: it has no `trials/` folder{hint}. "
            "Pass the folder `alternas search` wrote (e.g. reports/quickstart)."
        )
    records, unreadable = layout.scan()
    entries = [_entry(layout, record) for record in records] + [
        TrialEntry(trial_id=u.trial_id, status=UNREADABLE, directory=u.path.parent, error=u.reason, damage=u.reason)
        for u in unreadable
    ]
    entries.sort(key=lambda entry: entry.trial_id)
    if not confirmations and not any(entry.status == "finished" and entry.plan is not None for entry in entries):
        counts = defaultdict(int)
        for entry in entries:
            counts[entry.status] += 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no trial records"
        damaged = "".join(f"; trial {e.trial_id}: {e.damage}" for e in entries if e.damage)
        raise CheckpointError(
            f"`{layout.root}` has no finished trial ({summary}); nothing to report or export. "
            f"Resume the search (`alternas search` on the same recipe) or wait for a trial to finish{damaged}"
        )
    for entry in entries:
        entry.quality = _number(entry.metrics.quality(quality_metric))
    return entries


def teacher_references(entries: list[TrialEntry], quality_metric: str) -> list[TeacherReference]:
    """One dense-teacher reference per ``(scheduler, steps, guidance)`` among finished trials, by steps."""
    groups: dict[tuple[str, int, float], list[TrialEntry]] = defaultdict(list)
    for entry in entries:
        if entry.status == "finished" and entry.metrics.teacher_generation_macs is not None:
            groups[entry.protocol_key].append(entry)
    references = []
    for (scheduler, steps, guidance), members in sorted(groups.items(), key=lambda item: item[0][1]):
        qualities = [
            q for q in (m.metrics.teacher_quality(quality_metric) for m in members) if q is not None
        ]
        references.append(
            TeacherReference(
                scheduler=scheduler,
                steps=steps,
                guidance_scale=guidance,
                quality=statistics.median(qualities) if qualities else None,
                macs=statistics.median(m.metrics.teacher_generation_macs for m in members),
                latency_s=statistics.median(m.metrics.teacher_latency_s or 0.0 for m in members),
                trials=[m.trial_id for m in members],
            )
        )
    return references


def _entry(layout: SearchRunDir, record: TrialRecord) -> TrialEntry:
    directory = layout.trial_dir(record.trial_id)
    entry = TrialEntry(
        trial_id=record.trial_id,
        status=record.status,
        directory=directory,
        feasible=record.feasible,
        params=dict(record.params),
        seed=record.seed,
        error=record.error,
        metrics=record.metrics,
        confirms=record.confirms,
    )
    try:
        entry.history = _read_history(directory / RUN_FILES["history"])
    except CheckpointError as error:  # only the training curves are lost
        entry.damage = f"{error} (the training curves are lost; the trial's results are not)"
    try:
        entry.config = _read_config(directory / RUN_FILES["config"])
        if record.status == "finished":
            entry.plan = ExpertPlan.load(directory / RUN_FILES["plan"])
    except CheckpointError as error:  # a finished trial whose files are gone or damaged
        if record.status == "finished":
            entry.status, entry.error, entry.plan, entry.damage = "failed", str(error), None, str(error)
    metrics_file = directory / RUN_FILES["metrics"]
    if entry.status == "finished" and not metrics_file.is_file():
        entry.damage = f"`{metrics_file}` is missing: the trial's quality and MACs are unknown"
    entry.macs = _number(entry.metrics.generation_macs)
    entry.latency_s = _number(entry.metrics.latency_s)
    return entry


def _read_history(path: Path) -> list[dict[str, float]]:
    """``history.json`` (empty when absent): a list of ``{metric: number}`` rows."""
    if not path.is_file():
        return []
    history = read_json(path, list)
    if not all(isinstance(row, dict) and all(_number(v) is not None for v in row.values()) for row in history):
        raise CheckpointError(f"`{path}` is damaged: every entry must map metric names to numbers")
    return history


def _read_config(path: Path) -> RunConfig | None:
    """The trial's ``config.yaml`` (``None`` when absent)."""
    return read_model(path, RunConfig) if path.is_file() else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value == value else None
