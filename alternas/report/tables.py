"""The report's tables as plain rows of strings, shared by the terminal, HTML and Markdown renderers."""

from __future__ import annotations

from .dense_front import EQUAL_MACS
from .build import Report
from ..macs import format_macs
from .formatting import format_interval, format_value
from .trial_entries import TrialEntry
from .uncertainty import wholly_better

__all__ = [
    "WINNER_MARK",
    "Table",
    "cost_unit_text",
    "trials_table",
    "teachers_table",
    "baseline_table",
    "baseline_text",
    "confirmed_table",
    "confirmed_text",
    "experts_table",
    "routing_text",
    "problems_table",
    "stopped_table",
]

#: ``(header, rows)``: every cell already formatted
Table = tuple[list[str], list[list[str]]]

#: marks the winner's role in the trials table
WINNER_MARK = "★"


def cost_unit_text(report: Report) -> str:
    """One sentence naming the report's unit of cost, a dense step, and what it is in MACs here."""
    step = report.dense_step_macs
    here = f", {format_macs(step)} here" if step else ""
    return (
        f"Costs are total generation MACs per image over all sampler steps (x2 with guidance), also given in "
        f"dense steps: one dense step is the dense teacher's cost of one sampler step{here}, so a trial of 5 "
        f"dense steps costs what the dense model does at 5 steps; kept per step is the share of a dense step "
        f"a trial's experts run at each step on average. {WINNER_MARK} marks the winner."
    )


def trials_table(report: Report, params: bool = True) -> Table:
    """Every scored trial: role, quality, change vs teacher, MACs, latency, speedups, experts used and
    (with ``params``) the sampled search values."""
    metric = report.config.quality_metric
    header = [
        "trial",
        "role",
        f"{metric} [{report.config.confidence:.0%} interval]",
        "vs teacher",
        "generation MACs",
        "dense steps",
        "kept per step",
        "latency s",
        "speedup",
        "ideal",
        "experts",
        "vs dense step-count baseline",
    ] + (["params"] if params else [])
    rows = []
    order = {"front": 0, "dominated": 1, "infeasible": 2, "unscored": 3}
    scored = [e for e in report.entries if e.role in order]
    for entry in sorted(scored, key=lambda e: (order[e.role], e.macs or 0.0)):
        metrics = entry.metrics
        role = entry.role + (f" {WINNER_MARK}" if entry.trial_id == report.winner.trial_id else "")
        rows.append(
            [
                entry.trial_id,
                role,
                format_interval(entry.interval) if entry.interval is not None else format_value(entry.quality),
                _relative(entry, metric),
                format_macs(entry.macs),
                format_value(entry.dense_steps, 2, fixed=True),
                format_value(metrics.macs_share, 3, fixed=True),
                format_value(entry.latency_s, 3),
                _times(metrics.speedup),
                _times(metrics.ideal_speedup),
                format_value(metrics.experts_in_use),
                report.baseline_label(entry),
            ]
            + ([_params(entry)] if params else [])
        )
    return header, rows


def teachers_table(report: Report) -> Table:
    """The dense teacher at each sampler setting."""
    header = ["reference", "sampler", report.config.quality_metric, "generation MACs", "latency s", "trials"]
    rows = [
        [
            t.label,
            t.scheduler,
            format_value(t.quality),
            format_macs(t.macs),
            format_value(t.latency_s, 3),
            str(len(t.trials)),
        ]
        for t in report.teachers
    ]
    return header, rows


def baseline_table(report: Report) -> Table:
    """The dense teacher at each step count of the baseline ladder, and which points form its fronts."""
    baseline = report.baseline
    if baseline is None:
        return [], []
    metric, lower = report.config.quality_metric, report.lower_is_better
    macs_front = {id(p) for p in baseline.front(metric, lower)}
    latency_front = {id(p) for p in baseline.front(metric, lower, "latency_s")}
    header = [
        "dense sampler",
        "steps",
        f"{metric} [{report.config.confidence:.0%} interval]",
        "generation MACs",
        "latency s",
        "on MACs front",
        "on latency front",
        "trials it dominates",
    ]
    rows = [
        [
            p.sampler,
            str(p.steps),
            format_interval(report.baseline_intervals[p.key])
            if p.key in report.baseline_intervals
            else format_value(baseline.quality(p, metric)),
            format_macs(p.generation_macs),
            format_value(p.latency_s, 3),
            format_value(id(p) in macs_front),
            format_value(id(p) in latency_front),
            ", ".join(e.trial_id for e in report.entries if e.dominated_by is p) or "-",
        ]
        for p in baseline.points
    ]
    return header, rows


def baseline_text(report: Report) -> str:
    """One paragraph: what the baseline is and how many trials lie beyond it (or why there is none)."""
    baseline = report.baseline
    if baseline is None:
        return (
            "No dense step-count baseline: the run directory has no readable baseline.json (a search "
            "measures it before its first trial), or the quality metric "
            f"`{report.config.quality_metric}` compares with the teacher and has no dense value."
        )
    compared = [e for e in report.entries if e.beyond_baseline is not None]
    beyond = sum(bool(e.beyond_baseline) for e in compared)
    steps = ", ".join(str(s) for s in sorted({p.steps for p in baseline.points}))
    samplers = ", ".join(baseline.samplers)
    which = (
        f"with the samplers the recipe allows ({samplers}; `report.baseline.samplers`)"
        if baseline.samplers_restricted
        else f"with every sampler alternas offers ({samplers}), so the front is the best a user gets for free"
    )
    instead = ""
    if report.winner.dense_steps is not None:
        instead = (
            f" No trial lies beyond it: run the dense model with {report.winner.dense_sampler} at "
            f"{report.winner.dense_steps} steps instead."
        )
    return (
        f"The dense teacher at {steps} sampler steps {which} (guidance {baseline.guidance_scale:g}, the trials' "
        f"evaluation noise and metrics, {baseline.num_samples} samples). A trial lies beyond this front when no "
        f"dense point has no more generation MACs (up to {EQUAL_MACS:.0%} more counts as equal) and at least as "
        f"good {report.config.quality_metric}, and, paired on the same evaluation images, the "
        f"{report.config.confidence:.0%} interval of its difference with the best dense point at no more MACs "
        f"lies wholly on the better side (evaluation noise from each image's influence on the metric; a trial "
        f"inside the noise is \"within noise "
        f"of\" that point); {beyond} of {len(compared)} scored trials do.{instead} Its "
        f"latencies were measured by the search driver before the trials, with one trial's threads: compare "
        f"them with the trials' only when the machine was equally loaded."
    )


def confirmed_table(report: Report) -> Table:
    """One row per confirmed configuration: its search score, its confirmed mean over new seeds with the
    interval, its paired difference with the dense point it is judged against, and the run an export ships."""
    if not report.confirmed:
        return [], []
    metric, percent = report.config.quality_metric, f"{report.config.confidence:.0%}"
    header = [
        "configuration (search trial)",
        f"search {metric}",
        "new seeds",
        f"confirmed {metric} [{percent}]",
        f"vs dense [{percent}]",
        "verdict",
        "export ships",
        "params",
    ]
    rows = []
    for confirmed in report.confirmed.values():
        entry = report.entry(confirmed.trial_id)
        difference = confirmed.versus_dense
        point = entry.compared_with
        if point is None:
            verdict = "beyond (no dense point this cheap)" if report.baseline is not None else "-"
        elif difference is None:
            verdict = "-"
        elif wholly_better(difference, report.lower_is_better):
            verdict = f"beyond {report.baseline.label(point)}"
        elif wholly_better(difference, not report.lower_is_better):
            verdict = f"worse than {report.baseline.label(point)}"
        else:
            verdict = f"within noise of {report.baseline.label(point)}"
        rows.append(
            [
                confirmed.trial_id + (f" {WINNER_MARK}" if confirmed.trial_id == report.winner.trial_id else ""),
                format_value(entry.quality),
                ", ".join(str(run.seed) for run in confirmed.runs),
                format_interval(confirmed.quality),
                format_interval(difference, signed=True),
                verdict,
                confirmed.shipped.trial_id,
                _params(entry),
            ]
        )
    return header, rows


def confirmed_text(report: Report) -> str:
    """What confirmation did, and the reproducibility sentence (empty when no confirmation ran)."""
    if not report.confirmations:
        return ""
    finished = sum(run.scored for run in report.confirmations)
    return (
        f"The best {len(report.confirmed) or len({r.confirms for r in report.confirmations})} candidates of the "
        f"winner rule were retrained with new training seeds ({finished} of {len(report.confirmations)} runs "
        "finished) as trials of this run directory (confirmations/); the winner rule ranks them by their "
        "confirmed means. Intervals: Student t over the seeds, the seed-to-seed spread pooled over the "
        "configurations, plus the evaluation noise the runs share. " + (report.reproducibility or "")
    )


def experts_table(entry: TrialEntry) -> Table:
    """One row per expert of a trial: units kept and skipped, MACs per step, steps served."""
    header = [
        "expert",
        "kept units",
        "skipped units",
        "MACs per step",
        "share of a dense step",
        "sampler steps",
        "skips",
    ]
    rows = [
        [
            str(e.index),
            str(len(e.keep)),
            str(len(e.skip)),
            format_macs(e.macs_per_step),
            format_value(e.macs_share, 3, fixed=True),
            str(e.sampler_steps),
            ", ".join(e.skip) or "-",
        ]
        for e in entry.plan.experts
    ]
    return header, rows


def routing_text(entry: TrialEntry) -> str:
    """The sampler's routing as intervals, e.g. ``"t 999..700 -> expert 2 (4 steps); ..."``."""
    return "; ".join(
        (f"t {i.first}..{i.last}" if i.steps > 1 else f"t {i.first}")
        + f" -> expert {i.expert} ({i.steps} step{'s' if i.steps != 1 else ''})"
        for i in entry.plan.sampler.intervals
    )


def problems_table(report: Report) -> Table:
    """Trials that failed or have not finished, and any trial with a damaged or missing file."""
    header = ["trial", "status", "params", "error"]
    rows = [
        [
            e.trial_id,
            e.status if e.role in ("failed", "unfinished") else f"{e.status} ({e.role})",
            _params(e),
            (e.error or e.damage or "-").strip().splitlines()[-1],
        ]
        for e in report.entries
        if e.role in ("failed", "unfinished") or e.damage
    ]
    return header, rows


def stopped_table(report: Report) -> Table:
    """Trials the successive-halving scheduler stopped at a rung, with the rung's cheap evaluation."""
    header = ["trial", "params", "rung", "step", f"{report.config.quality_metric} (rung)", "MACs/image (rung)", "feasible"]
    rows = [
        [
            e.trial_id,
            _params(e),
            format_value(e.metrics.rung),
            format_value(e.metrics.step),
            format_value(e.metrics.rung_quality),
            format_macs(e.metrics.rung_generation_macs) if e.metrics.rung_generation_macs is not None else "-",
            "yes" if e.feasible else "no",
        ]
        for e in report.entries
        if e.role == "stopped"
    ]
    return header, rows


def _params(entry: TrialEntry) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in sorted(entry.params.items())) or "-"


def _relative(entry: TrialEntry, metric: str) -> str:
    teacher = entry.metrics.teacher_quality(metric)
    if teacher is None or entry.quality is None or teacher == 0:
        return "-"
    return f"{(entry.quality - teacher) / abs(teacher):+.1%}"


def _times(value: object) -> str:
    return f"{value:.2f}x" if isinstance(value, (int, float)) else "-"
