"""Report figures (matplotlib, no pyplot state): Pareto fronts, routing timelines, unit-keep heat maps,
training curves and sample grids.

Each ``*_figure`` function returns a :class:`matplotlib.figure.Figure` (or ``None`` when the trial lacks
the data); :func:`write_figures` renders them all as PNG files.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
from PIL import Image

from .._atomic import atomic_path
from ..macs import macs_scale
from ..metrics import quality_label
from ..quality import Interval
from ..rundir import RUN_FILES, SAMPLE_CONDITIONS
from ..evaluation.dense_ladder import BaselinePoint
from .build import Report
from .labels import PointLabel, place_labels
from .trial_entries import TrialEntry

logger = logging.getLogger(__name__)

__all__ = [
    "pareto_figure",
    "routing_figure",
    "keep_figure",
    "training_figure",
    "samples_figure",
    "write_figures",
    "expert_colors",
]

_DPI = 110
_ROLE_STYLE = {
    "front": {"color": "#1f77b4", "marker": "o", "label": "Pareto front"},
    "dominated": {"color": "#9e9e9e", "marker": "o", "label": "dominated"},
    "infeasible": {"color": "#d62728", "marker": "x", "label": "infeasible"},
}


def expert_colors(count: int) -> list[tuple[float, float, float, float]]:
    """A distinct colour per expert index (tab10 up to 10 experts, tab20 beyond, then cycling)."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(count)]


def pareto_figure(report: Report) -> Figure:
    """Quality against total generation MACs (left) and against measured latency (right), each framed on
    the trials (dense points far beyond them are left off the axes, and counted in a note); every point
    label is placed clear of the others; the legend sits below both panels."""
    figure = Figure(figsize=(11, 5.0), layout="constrained")
    FigureCanvasAgg(figure)
    macs_axes, latency_axes = figure.subplots(1, 2)
    divisor, prefix = macs_scale(max([e.macs for e in report.entries if e.macs] + [t.macs for t in report.teachers]
                                     + [p.generation_macs for p in _baseline_points(report)] + [1.0]))
    metric = report.config.quality_metric
    panels = (
        (macs_axes, "macs", divisor, f"total generation MACs per image ({prefix}MACs)", f"{metric} vs generation MACs"),
        (latency_axes, "latency_s", 1.0, "sampling time of one latency batch (s)", f"{metric} vs measured latency"),
    )
    placements = [_pareto_panel(ax, report, cost, scale, xlabel) for ax, cost, scale, xlabel, _ in panels]
    for (ax, *_, title), _ in zip(panels, placements):
        ax.set_title(title)
    handles, names = macs_axes.get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncol=min(4, len(names)), fontsize=7, frameon=False)
    figure.canvas.draw()  # settle the layout, then freeze it: labels are placed in display coordinates
    figure.set_layout_engine("none")
    for (ax, *_), (labels, points) in zip(panels, placements):
        place_labels(ax, labels, points)
    return figure


def _baseline_points(report: Report) -> list[BaselinePoint]:
    """The baseline's points that measured the report's quality metric."""
    return report.baseline.scored(report.config.quality_metric) if report.baseline is not None else []


def _pareto_panel(
    ax: Axes, report: Report, cost: str, scale: float, xlabel: str
) -> tuple[list[PointLabel], list[tuple[float, float, float]]]:
    """Draw one Pareto panel (``cost`` is ``"macs"`` or ``"latency_s"``) and frame it on the trials.

    Returns the labels to place once the layout is final and every marker as ``(x, y, clearance in points)``.
    """
    front_ids = report.front if cost == "macs" else report.latency_front
    groups: dict[str, list[TrialEntry]] = {role: [] for role in _ROLE_STYLE}
    for entry in report.entries:
        if entry.role == "infeasible":
            groups["infeasible"].append(entry)
        elif entry.role in ("front", "dominated"):
            groups["front" if entry.trial_id in front_ids else "dominated"].append(entry)
    focus: list[tuple[float, float]] = []  # the trials and their teachers: what the axes frame
    for role, members in groups.items():
        if members:
            style = _ROLE_STYLE[role]
            xs, ys = [getattr(e, cost) / scale for e in members], [e.quality for e in members]
            ax.scatter(xs, ys, c=[style["color"]], marker=style["marker"], s=36, label=style["label"], zorder=6)
            _error_bars(ax, xs, [e.interval for e in members], style["color"])
            focus += zip(xs, ys)
    points = [(x, y, _DOT_CLEARANCE) for x, y in focus]
    front = [report.entry(i) for i in front_ids]
    ax.plot([getattr(e, cost) / scale for e in front], [e.quality for e in front], "-", color="#1f77b4", zorder=5)
    teachers = [t for t in report.teachers if t.quality is not None]
    if teachers:
        xs, ys = [getattr(t, cost) / scale for t in teachers], [t.quality for t in teachers]
        ax.scatter(xs, ys, marker="*", s=140, c="black", zorder=7, label="dense teacher at the trials' settings")
        points += [(x, y, _STAR_CLEARANCE) for x, y in zip(xs, ys)]
        focus += zip(xs, ys)
    points += [(x, y, _DOT_CLEARANCE) for x, y in _baseline_panel(ax, report, cost, scale)]
    confirmed = list(report.confirmed.values())
    if confirmed:
        xs = [statistics.fmean(getattr(run, cost) for run in c.runs) / scale for c in confirmed]
        ys = [c.quality.value for c in confirmed]
        ax.scatter(xs, ys, marker="D", s=42, c="#9467bd", zorder=8, label="confirmed mean over new seeds")
        _error_bars(ax, xs, [c.quality for c in confirmed], "#9467bd")
        points += [(x, y, _DOT_CLEARANCE) for x, y in zip(xs, ys)]
        focus += zip(xs, ys)
    winner = report.winner_entry
    labels: list[PointLabel] = []
    if winner is not None:
        at = (getattr(winner, cost) / scale, winner.quality)
        ax.scatter(*at, s=300, facecolors="none", edgecolors="#ff9f00", linewidths=2.4, zorder=11,
                   label=f"winner ({winner.trial_id})")
        labels.append(PointLabel(f"winner {winner.trial_id}", *at, {"fontweight": "bold", "color": "#b36b00"}))
        points.append((*at, _RING_CLEARANCE))
    labels += [PointLabel(e.trial_id, getattr(e, cost) / scale, e.quality) for e in front if e is not winner]
    labels += [PointLabel(t.label, getattr(t, cost) / scale, t.quality) for t in teachers]
    _frame(ax, focus, [(x, y) for x, y, _ in points], report.lower_is_better)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(quality_label(report.config.quality_metric))
    ax.grid(alpha=0.3)
    return labels, points


#: room kept clear of labels around a dot, a star and the winner's ring, in points (half a square's side)
_DOT_CLEARANCE, _STAR_CLEARANCE, _RING_CLEARANCE = 4.0, 6.0, 10.0

#: the axes reach this far beyond the trials' (and their teachers') costs on either side, as a factor
_COST_MARGIN = 1.3


def _error_bars(ax: Axes, xs: list[float], intervals: list[Interval | None], color: Any) -> None:
    """Vertical bars of the quality intervals (points without one, or an unbounded one, get none)."""
    bars = [(x, i) for x, i in zip(xs, intervals) if i is not None and math.isfinite(i.low) and math.isfinite(i.high)]
    if bars:
        ax.errorbar([x for x, _ in bars], [i.value for _, i in bars],
                    yerr=[[i.value - i.low for _, i in bars], [i.high - i.value for _, i in bars]],
                    fmt="none", ecolor=color, elinewidth=0.8, capsize=2, alpha=0.8, zorder=4)


def _frame(ax: Axes, focus: list[tuple[float, float]], drawn: list[tuple[float, float]], lower_is_better: bool) -> None:
    """Limit ``ax`` to the costs of ``focus`` (the trials and their dense teachers) widened by
    :data:`_COST_MARGIN`, and to the qualities drawn within those costs that matter: any better than the
    worst focus point, and the worse ones up to a fifth of the range beyond it. Points left off are counted
    in a note at the panel's bottom right. A log axis serves costs spanning more than 20x."""
    if not focus:
        return
    xs = [x for x, _ in focus]
    low, high = min(xs) / _COST_MARGIN, max(xs) * _COST_MARGIN
    visible = [(x, y) for x, y in drawn if low <= x <= high]
    qualities = [y for _, y in focus]
    worst = max(qualities) if lower_is_better else min(qualities)
    span = (max(y for _, y in visible) - min(y for _, y in visible)) or abs(worst) or 1.0
    if lower_is_better:
        top = min(max(y for _, y in visible), worst + 0.2 * span)
        bottom = min(y for _, y in visible)
    else:
        bottom = max(min(y for _, y in visible), worst - 0.2 * span)
        top = max(y for _, y in visible)
    pad = 0.06 * ((top - bottom) or 1.0)
    ax.set_ylim(bottom - pad, top + pad)
    if high / low > 20:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(low, high)
    off = sum(not (low <= x <= high and bottom - pad <= y <= top + pad) for x, y in drawn)
    if off:
        ax.text(0.99, 0.01, f"{off} dense point{'s' * (off > 1)} off the axes (see the baseline table)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=6.5, color="#555555")


#: colours of the samplers' dense ladders, in the baseline's sampler order (the recipe's first)
_SAMPLER_COLORS = ("#2ca02c", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd")


def _baseline_panel(ax: Axes, report: Report, cost: str, scale: float) -> list[tuple[float, float]]:
    """Draw the dense baseline: each sampler's step-count ladder (the best sampler bold), and the front of
    all of them (the best the dense teacher does for free) as a dashed line; returns the points drawn. The
    points are not labelled (a ladder of five samplers would bury the trials' labels): the legend names
    the samplers and the report's baseline table lists every point."""
    baseline = report.baseline
    if baseline is None:
        return []
    metric, attribute = report.config.quality_metric, "generation_macs" if cost == "macs" else "latency_s"
    best = baseline.best_per_sampler(metric, report.lower_is_better)
    points = _baseline_points(report)
    drawn: list[tuple[float, float]] = []
    for index, sampler in enumerate(baseline.samplers):
        ladder = sorted((p for p in points if p.sampler == sampler), key=lambda p: getattr(p, attribute))
        xs, ys = [getattr(p, attribute) / scale for p in ladder], [baseline.quality(p, metric) for p in ladder]
        color = _SAMPLER_COLORS[index % len(_SAMPLER_COLORS)]
        ax.plot(xs, ys, marker="s", markersize=3.5 if sampler == best else 2.5, linewidth=2.0 if sampler == best else 0.8,
                color=color, alpha=1.0 if sampler == best else 0.7, zorder=3,
                label=f"dense, {sampler}" + (" (best)" if sampler == best else ""))
        _error_bars(ax, xs, [report.baseline_intervals.get(p.key) for p in ladder], color)
        drawn += zip(xs, ys)
    front = baseline.front(metric, report.lower_is_better, attribute)
    ax.plot([getattr(p, attribute) / scale for p in front], [baseline.quality(p, metric) for p in front], "--",
            color="black", linewidth=0.8, zorder=2, label="dense front (best sampler at each cost)")
    return drawn


def routing_figure(entry: TrialEntry) -> Figure:
    """Which expert serves each sampler step (top) and each training timestep (bottom)."""
    plan = entry.plan
    colors = expert_colors(len(plan.experts))
    figure = Figure(figsize=(10, 3.0), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=(1.3, 1))
    steps = plan.sampler.steps
    top.bar(range(steps), 1.0, width=1.0, color=[colors[e] for e in plan.sampler.experts], edgecolor="white")
    for index, expert in enumerate(plan.sampler.experts):
        top.text(index, 0.5, str(expert), ha="center", va="center", fontsize=7 if steps <= 30 else 5)
    every = max(1, steps // 20)
    top.set_xticks(range(0, steps, every))
    top.set_xticklabels([str(plan.sampler.timesteps[i]) for i in range(0, steps, every)], fontsize=7)
    top.set_xlim(-0.5, steps - 0.5)
    top.set_yticks([])
    top.set_xlabel(
        f"sampler step ({plan.sampler.scheduler}, {steps} steps), labelled by timestep", fontsize=8
    )
    top.set_title(f"trial {entry.trial_id}: expert serving each step", fontsize=9)

    table = plan.assignment().numpy()[::-1][None, :]  # (1, T), highest timestep first (visiting order)
    total = plan.num_train_timesteps
    bottom.imshow(
        table,
        aspect="auto",
        cmap=ListedColormap(colors),
        vmin=-0.5,
        vmax=len(colors) - 0.5,
        interpolation="nearest",
        extent=(total - 0.5, -0.5, 0, 1),
    )
    bottom.plot(plan.sampler.timesteps, [1.0] * steps, "v", color="black", markersize=4, clip_on=False)
    bottom.set_ylim(0, 1)
    bottom.set_yticks([])
    bottom.set_xlabel("training timestep (noisy -> clean); triangles = sampler timesteps", fontsize=8)
    used = sorted(set(plan.sampler.experts))
    handles = [
        Patch(
            color=colors[e.index],
            label=f"expert {e.index}: {e.macs_share:.2f} of a dense step, {e.sampler_steps} steps",
        )
        for e in plan.experts
        if e.index in used
    ]
    figure.legend(handles=handles, loc="outside right upper", fontsize=7)
    return figure


def keep_figure(entry: TrialEntry) -> Figure:
    """Experts x units: dark = the expert runs the unit, light = it skips it."""
    plan = entry.plan
    keep = plan.keep_matrix().numpy()  # (N_e, N_L)
    experts, units = keep.shape
    figure = Figure(figsize=(max(6.0, 0.26 * units + 2.5), 0.42 * experts + 2.6), layout="constrained")
    ax = figure.subplots()
    ax.imshow(
        keep,
        cmap=ListedColormap(["#f1f1f1", "#2b5d8a"]),
        vmin=0,
        vmax=1,
        aspect="auto",
        interpolation="nearest",
    )
    ax.set_yticks(range(experts))
    ax.set_yticklabels(
        [f"expert {e.index}: {e.macs_share:.2f} of a dense step, {e.sampler_steps} steps" for e in plan.experts], fontsize=7
    )
    ax.set_xticks(range(units))
    ax.set_xticklabels(plan.unit_names, rotation=90, fontsize=6)
    ax.set_xticks(np.arange(-0.5, units, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, experts, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_title(f"trial {entry.trial_id}: units each expert keeps (dark) or skips (light)", fontsize=9)
    return figure


def training_figure(entry: TrialEntry) -> Figure | None:
    """Loss curves (left) and the MACs share of the soft and hard masks (right) over training."""
    history = entry.history
    if not history:
        return None
    steps = [row.get("step", i) for i, row in enumerate(history)]
    figure = Figure(figsize=(10, 4.0), layout="constrained")  # legends below the panels, clear of the curves
    losses, shares = figure.subplots(1, 2)
    loss_keys = sorted({k for row in history for k in row if k.startswith("loss_")})
    all_positive = all(row[k] > 0 for row in history for k in loss_keys if k in row)
    for key in loss_keys:
        points = [(s, row[key]) for s, row in zip(steps, history) if key in row]
        losses.plot(*zip(*points), label=key.removeprefix("loss_"), linewidth=1.2)
    if all_positive and loss_keys:
        losses.set_yscale("log")
    losses.set_xlabel("iteration")
    losses.set_title(f"trial {entry.trial_id}: losses", fontsize=9)
    losses.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    losses.grid(alpha=0.3)
    curves = (("macs_share_soft", "--", "soft masks"), ("macs_share_hard", "-", "hard masks"),
              ("macs_share_target", ":", "scheduled target"))
    for key, style, label in curves:
        points = [(s, row[key]) for s, row in zip(steps, history) if key in row]
        if points:
            shares.plot(*zip(*points), style, label=label)
    target = entry.metrics.target_macs_share
    if target is not None:
        shares.axhline(target, color="black", linestyle=":", label=f"target {target:.2f}")
    if entry.config is not None and entry.config.train.hypernet_steps < entry.config.train.steps:
        shares.axvline(entry.config.train.hypernet_steps, color="#888888", linewidth=1, label="masks frozen")
    shares.set_xlabel("iteration")
    shares.set_ylabel("MACs per step / dense")
    shares.set_title("MACs share of the experts over the sampler's steps", fontsize=9)
    shares.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    shares.grid(alpha=0.3)
    return figure


def samples_figure(entry: TrialEntry) -> Figure | None:
    """The experts' sample grid beside the dense teacher's, generated from the same noise."""
    samples = entry.directory / RUN_FILES["samples"]
    paths = (samples / "experts.png", samples / "teacher.png")
    if not all(path.is_file() for path in paths):
        return None
    try:
        grids = [_read_image(path) for path in paths]
    except OSError as error:  # damaged sample images: the report goes on without this figure
        logger.warning("no samples figure for trial %s: %s", entry.trial_id, error)
        return None
    figure = Figure(figsize=(10, 5.4), layout="constrained")
    titles = (f"experts (trial {entry.trial_id})", "dense teacher (same noise)")
    columns = _column_conditions(samples / SAMPLE_CONDITIONS, _GRID_COLUMNS)
    for ax, grid, title in zip(figure.subplots(1, 2), grids, titles):
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        if columns is None:
            ax.set_xticks([])
            continue
        width = grid.shape[1] / len(columns)
        ax.set_xticks([width * (i + 0.5) for i in range(len(columns))], columns, fontsize=7)
        ax.tick_params(length=0)
        ax.set_xlabel("the class each column is conditioned on", fontsize=8)
    return figure


#: images per row of the sample grids (``alternas.api`` writes them 10 wide)
_GRID_COLUMNS = 10


def _column_conditions(path: Path, columns: int) -> list[str] | None:
    """The condition shared by each grid column, when every column's images share one short condition
    (class labels); ``None`` otherwise (prompts, mixed columns, or no readable file)."""
    try:
        conditions = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(conditions, list) or len(conditions) < columns:
        return None
    by_column = [{str(c) for c in conditions[i::columns]} for i in range(columns)]
    if any(len(values) != 1 for values in by_column):
        return None
    names = [values.pop() for values in by_column]
    return names if all(len(name) <= 6 for name in names) else None


def _read_image(path: Path) -> np.ndarray:
    """An image file as an RGB array ``(H, W, 3)``; a damaged file raises :class:`OSError`."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def write_figures(report: Report, directory: str | Path) -> dict[str, Path]:
    """Render every figure of ``report`` as PNG into ``directory``.

    Returns:
        Figure name -> file path. Names: ``pareto``, and per trial ``routing-<id>``, ``units-<id>``,
        ``samples-<id>`` (front trials) and ``training-<id>`` (every finished trial).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Figure | None] = {"pareto": pareto_figure(report)}
    for entry in report.front_entries:
        figures[f"routing-{entry.trial_id}"] = routing_figure(entry)
        figures[f"units-{entry.trial_id}"] = keep_figure(entry)
        figures[f"samples-{entry.trial_id}"] = samples_figure(entry)
    for entry in report.entries:
        if entry.plan is not None:
            figures[f"training-{entry.trial_id}"] = training_figure(entry)
    written = {}
    for name, figure in figures.items():
        if figure is None:
            continue
        path = directory / f"{name}.png"
        with atomic_path(path) as partial:
            figure.savefig(partial, dpi=_DPI, format="png")
        written[name] = path
    return written
