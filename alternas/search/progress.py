"""Live progress of a search: one row per trial, overall progress with ETA, and the best-so-far front.

:class:`SearchDisplay` draws a rich live table on a terminal and prints plain lines otherwise (CI
logs). Ray Tune drives it through :class:`ProgressCallback`, a stateless Tune ``Callback`` that
forwards each event to the display the driver has open: Tune pickles its callbacks with the
experiment and unpickles them on resume, so the callback must not own the terminal.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from ray.tune import Callback
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..macs import format_macs
from ..pareto import trial_front
from ..recipe import Recipe, SearchDimension, search_dimensions
from ..report.dense_front import read_baseline
from ..rundir import SearchRunDir, TrialRecord
from .objectives import Objectives
from .trainable import CONFIRMATION_KEY, CONFIRMS_KEY, SEED_KEY

__all__ = ["SearchDisplay", "ProgressCallback"]

#: seconds between progress lines in plain (non-terminal) output
PLAIN_PROGRESS_EVERY_S = 30.0


@dataclass
class _Row:
    """What the display knows about one trial."""

    trial_id: str
    params: str
    status: str = "starting"
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    macs_share: float | None = None
    quality: float | None = None
    macs: float | None = None
    feasible: bool | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in ("finished", "failed", "stopped")

    @property
    def fraction(self) -> float:
        """How much of this trial is done, in ``[0, 1]`` (training steps; 1 when it ended)."""
        if self.done:
            return 1.0
        return self.step / self.total_steps if self.total_steps else 0.0


class SearchDisplay:
    """The live view of one search (use as a context manager around ``Tuner.fit``).

    Args:
        recipe: the search's recipe.
        run_dir: its run directory (trials finished in an earlier session are shown too).
        console: where to draw; a live table when it is a terminal, plain lines otherwise.
        planned: runs planned (default: the recipe's planned trials; a confirmation's runs for
            ``run_dir.confirmations()``).
    """

    _current: ClassVar[SearchDisplay | None] = None

    def __init__(self, recipe: Recipe, run_dir: SearchRunDir, console: Console, planned: int | None = None) -> None:
        self.objectives = Objectives.from_recipe(recipe)
        self.dimensions = search_dimensions(recipe)
        baseline = read_baseline(run_dir.root)  # measured by the driver before the trials
        comparable = baseline is not None and baseline.scored(self.objectives.quality_metric)
        self.baseline = baseline if comparable else None
        self.planned = recipe.planned_trials() if planned is None else planned
        self.run_dir = run_dir
        self.console = console
        self.rows: dict[str, _Row] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._last_plain = 0.0
        for record in run_dir.records():
            if record.status in ("finished", "failed", "stopped"):
                self.rows[record.trial_id] = _row_from_record(record, self.objectives, self.dimensions)
        self._started = time.monotonic()
        self._start_fraction = self._fraction()

    @classmethod
    def current(cls) -> SearchDisplay | None:
        """The display the driver has open, if any."""
        return cls._current

    def __enter__(self) -> SearchDisplay:
        if self.console.is_terminal:
            self._live = Live(console=self.console, get_renderable=self.render, refresh_per_second=2,
                              transient=False)
            self._live.start()
        SearchDisplay._current = self
        return self

    def __exit__(self, *exc: Any) -> None:
        SearchDisplay._current = None
        if self._live is not None:
            self._live.stop()
            self._live = None

    # ---- events ------------------------------------------------------------------------------

    def trial_started(self, trial_id: str, config: dict[str, Any]) -> None:
        with self._lock:
            row = self.rows.setdefault(trial_id, _Row(trial_id, _describe(config, self.dimensions)))
            row.status = "starting"
        self._plain(f"trial {trial_id} started: {row.params}")

    def trial_result(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        with self._lock:
            row = self.rows.setdefault(trial_id, _Row(trial_id, _describe(config, self.dimensions)))
            if row.status == "starting":
                row.status = "running"
            row.step = int(result.get("step", row.step))
            row.total_steps = int(result.get("total_steps", row.total_steps))
            row.loss = result.get("loss_backbone", row.loss)
            row.macs_share = result.get("macs_share", result.get("macs_share_hard", row.macs_share))
            if row.status == "running" and row.total_steps and row.step >= row.total_steps:
                row.status = "evaluating"
        self._plain_progress()

    def trial_finished(self, trial_id: str) -> None:
        record = self._record(trial_id)
        with self._lock:
            if record is not None:
                self.rows[trial_id] = _row_from_record(record, self.objectives, self.dimensions)
            row = self.rows.get(trial_id)
        if row is not None:
            beyond = self._beyond(row)
            verdict = "" if beyond == "-" else f", beyond the baseline: {beyond}"
            self._plain(f"trial {trial_id} {_outcome(row, self.objectives)}{verdict} ({self._counts()})")

    def trial_failed(self, trial_id: str) -> None:
        record = self._record(trial_id)
        with self._lock:
            row = self.rows.setdefault(trial_id, _Row(trial_id, ""))
            row.status, row.error = "failed", record.error if record is not None else None
        self._plain(f"trial {trial_id} failed: {row.error or 'see its trial.log'} ({self._counts()})")

    def trial_retrying(self, trial_id: str) -> None:
        record = self._record(trial_id)
        with self._lock:
            row = self.rows.get(trial_id)
            if row is not None:
                row.status = "retrying"
        reason = record.error if record is not None else "an error"
        self._plain(f"trial {trial_id} retries from its last checkpoint after: {reason}")

    # ---- rendering ---------------------------------------------------------------------------

    def render(self) -> RenderableType:
        """The live view: progress line and bar, the trial table, the front."""
        with self._lock:
            rows = list(self.rows.values())
            front = self._front_ids(rows)
            fraction = self._fraction()
            header = Text(f"{self._counts()}  {fraction:.0%}  ETA {self._eta(fraction)}", style="bold")
        table = Table(expand=False, show_edge=False)
        for column, justify in (("trial", "left"), ("params", "left"), ("status", "left"), ("step", "right"),
                                ("loss", "right"), ("MACs share", "right"), (self._quality_label(), "right"),
                                ("MACs / image", "right"), ("beyond baseline", "left")):
            table.add_column(column, justify=justify)
        for row in rows:
            table.add_row(
                Text(row.trial_id + (" *" if row.trial_id in front else "")),
                Text(row.params),
                _status_text(row),
                f"{row.step}/{row.total_steps}" if row.total_steps else "-",
                _number(row.loss, ".4f"),
                _number(row.macs_share, ".3f"),
                _number(row.quality, ".4g"),
                format_macs(row.macs, ".1f", unit=""),
                self._beyond(row),
            )
        front_text = "  ".join(
            f"{r.trial_id} ({_number(r.quality, '.4g')}, {format_macs(r.macs, '.1f', unit='')})"
            for r in rows if r.trial_id in front
        )
        return Group(header, ProgressBar(total=1.0, completed=fraction, width=60), table,
                     Text(f"front (* above): {front_text or '-'}"))

    def _beyond(self, row: _Row) -> str:
        """``"undominated"`` (no dense point dominates it; whether it lies beyond the evaluation noise is the
        report's to say), ``"no (dense unipc @ 4 steps)"``, or ``"-"`` (not finished, or no baseline)."""
        if self.baseline is None or row.status != "finished" or row.quality is None or row.macs is None:
            return "-"
        point = self.baseline.dominator(row.macs, row.quality, self.objectives.quality_metric,
                                        self.objectives.lower_is_better)
        return "undominated" if point is None else f"no ({self.baseline.label(point)})"

    def _quality_label(self) -> str:
        return f"{self.objectives.quality_metric} ({'min' if self.objectives.lower_is_better else 'max'})"

    def _front_ids(self, rows: list[_Row]) -> set[str]:
        front = trial_front(rows, lambda r: r.quality, lambda r: r.macs, self.objectives.lower_is_better)
        return {r.trial_id for r in front}

    def _fraction(self) -> float:
        done = sum(row.fraction for row in self.rows.values())
        return min(1.0, done / self.planned) if self.planned else 1.0

    def _eta(self, fraction: float) -> str:
        progressed = fraction - self._start_fraction
        if fraction >= 1.0:
            return "0s"
        if progressed <= 0:
            return "-"
        seconds = (time.monotonic() - self._started) * (1.0 - fraction) / progressed
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"

    def _counts(self) -> str:
        statuses = [row.status for row in self.rows.values()]
        finished, failed, stopped = statuses.count("finished"), statuses.count("failed"), statuses.count("stopped")
        running = len(statuses) - finished - failed - stopped
        ended = f"{failed} failed" + (f", {stopped} stopped early" if stopped else "")
        return f"{finished + failed + stopped}/{self.planned} trials done ({ended}), {running} running"

    def _plain(self, line: str) -> None:
        if self._live is None:
            self.console.print(f"[{time.strftime('%H:%M:%S')}] {line}", highlight=False, markup=False)

    def _plain_progress(self) -> None:
        now = time.monotonic()
        if self._live is not None or now - self._last_plain < PLAIN_PROGRESS_EVERY_S:
            return
        self._last_plain = now
        with self._lock:
            fraction = self._fraction()
            running = ", ".join(f"{r.trial_id} {r.status} {r.step}/{r.total_steps}"
                                for r in self.rows.values() if not r.done)
        self._plain(f"progress: {self._counts()}, {fraction:.0%}, ETA {self._eta(fraction)}; {running}")

    def _record(self, trial_id: str) -> TrialRecord | None:
        path = self.run_dir.trial_dir(trial_id) / "trial.json"
        return self.run_dir.read_record(trial_id) if path.is_file() else None


class ProgressCallback(Callback):
    """Forwards Tune's trial events to the open :class:`SearchDisplay` (holds no state of its own)."""

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _forward("trial_started", trial.trial_id, trial.config)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        _forward("trial_result", trial.trial_id, trial.config, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _forward("trial_finished", trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _forward("trial_failed", trial.trial_id)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _forward("trial_retrying", trial.trial_id)


def _forward(event: str, *args: Any) -> None:
    display = SearchDisplay.current()
    if display is not None:
        getattr(display, event)(*args)


def _describe(sampled: dict[str, Any], dimensions: list[SearchDimension]) -> str:
    """Compact sampled values, each as its dimension labels it, e.g.
    ``"4 learned, macs_share=0.65, 20 steps, hypernet_lr=0.002"``; for a confirmation run, the trial it
    retrains and its seed."""
    point = sampled.get(CONFIRMATION_KEY)
    if isinstance(point, dict):
        return _confirms(point[CONFIRMS_KEY], point[SEED_KEY])
    return ", ".join(d.label(sampled[d.name]) for d in dimensions if sampled.get(d.name) is not None)


def _confirms(trial_id: str, seed: int) -> str:
    return f"confirms {trial_id}, seed {seed}"


def _row_from_record(record: TrialRecord, objectives: Objectives, dimensions: list[SearchDimension]) -> _Row:
    sampled = {dimension.name: dimension.recorded(record.params) for dimension in dimensions}
    described = _confirms(record.confirms, record.seed) if record.confirms else _describe(sampled, dimensions)
    row = _Row(record.trial_id, described, status=record.status, error=record.error, feasible=record.feasible)
    metrics = record.metrics
    row.quality = metrics.quality(objectives.quality_metric)
    row.macs = metrics.generation_macs
    row.macs_share = metrics.macs_share
    return row


def _status_text(row: _Row) -> Text:
    if row.status == "finished":
        return Text("infeasible", style="yellow") if row.feasible is False else Text("finished", style="green")
    if row.status == "failed":
        return Text(f"failed: {(row.error or '')[:40]}", style="red")
    if row.status == "stopped":
        return Text("stopped early", style="magenta")
    return Text(row.status, style="cyan")


def _outcome(row: _Row, objectives: Objectives) -> str:
    if row.status == "failed":
        return f"failed: {row.error}"
    if row.status == "stopped":
        return row.error or "stopped early"
    verdict = "infeasible (over budget)" if row.feasible is False else "feasible"
    return (f"finished: {objectives.quality_metric} {_number(row.quality, '.4g')}, "
            f"{format_macs(row.macs, '.1f')}/image, "
            f"MACs share {_number(row.macs_share, '.3f')}, {verdict}")


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
