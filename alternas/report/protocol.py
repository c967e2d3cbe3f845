"""The evaluation protocol of a search, so that numbers from two runs can be compared honestly."""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._readers import read_json
from ..exceptions import CheckpointError
from ..rundir import SearchRunDir
from .trial_entries import TrialEntry

__all__ = ["describe_protocol"]

#: (label, how to read the value from a finished trial) for every protocol row taken from the trials
_TRIAL_FIELDS: tuple[tuple[str, Callable[[TrialEntry], Any]], ...] = (
    ("backbone", lambda e: f"{e.plan.backbone.get('class_name')} from {e.plan.backbone.get('source')}"),
    ("data", lambda e: e.config.data.source if e.config else None),
    ("data items", lambda e: (e.config.data.max_items or "all") if e.config else None),
    ("resolution (px)", lambda e: (e.config.data.resolution or "backbone native") if e.config else None),
    ("model sample shape (C, H, W)", lambda e: tuple(e.plan.macs.sample_shape)),
    ("prunable units", lambda e: len(e.plan.units)),
    ("MACs convention", lambda e: e.plan.macs.convention),
    ("experts / routing", lambda e: f"{len(e.plan.experts)} / {e.plan.routing_mode}"),
    ("sampler", lambda e: e.metrics.scheduler),
    ("sampler steps", lambda e: e.metrics.steps),
    ("guidance scale", lambda e: e.metrics.guidance_scale),
    ("evaluation samples", lambda e: e.metrics.num_samples),
    ("evaluation noise seed", lambda e: e.config.eval.seed if e.config else None),
    ("quality metrics", lambda e: ", ".join(e.config.eval.metrics) if e.config else None),
    ("latency batch size", lambda e: e.metrics.latency_batch_size),
    ("latency repeats (median)", lambda e: e.config.eval.latency_repeats if e.config else None),
    (
        "training iterations / hypernet",
        lambda e: f"{e.config.train.steps} / {e.config.train.hypernet_steps}" if e.config else None,
    ),
    ("training batch size", lambda e: e.config.train.batch_size if e.config else None),
    ("training seeds", lambda e: e.seed),
    (
        "device / precision",
        lambda e: f"{e.config.train.device} / {e.config.train.precision}" if e.config else None,
    ),
    ("alternas version", lambda e: e.plan.provenance.get("alternas")),
    ("torch version", lambda e: e.plan.provenance.get("torch")),
)


def describe_protocol(entries: Sequence[TrialEntry], run_dir: str | Path) -> list[tuple[str, str]]:
    """Protocol rows ``(label, value)``; a value that differs between trials lists every variant.

    Args:
        entries: the report's trials (only finished ones with a plan are read).
        run_dir: the search run directory (for ``search.json`` facts).
    """
    finished = [e for e in entries if e.status == "finished" and e.plan is not None]
    rows = [(label, _values(read(e) for e in finished)) for label, read in _TRIAL_FIELDS]
    import diffusers

    rows += [
        ("diffusers version (report)", diffusers.__version__),
        ("python / platform (report)", f"{platform.python_version()} / {platform.platform(terse=True)}"),
        ("trials (finished / all)", f"{len(finished)} / {len(entries)}"),
    ]
    search_file = SearchRunDir(run_dir).search_file
    if search_file.is_file():
        try:
            facts = read_json(search_file)
        except CheckpointError as error:  # the report does not need it: say so and go on
            facts = {"unreadable": str(error)}
        rows += [
            (f"search: {key.replace('_', ' ')}", _search_fact(key, value))
            for key, value in facts.items()
            if isinstance(value, (str, int, float, bool)) or value is None
        ]
    return rows


def _search_fact(key: str, value: Any) -> str:
    """A ``search.json`` fact as a reader wants it: times of day (``*_at``, Unix seconds) in UTC ISO form,
    durations (``*_seconds``) in minutes and seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if key.endswith("_at"):
            return datetime.fromtimestamp(value, tz=timezone.utc).isoformat(timespec="seconds")
        if key.endswith("_seconds"):
            minutes, seconds = divmod(round(value), 60)
            return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    return _values([value])


def _values(values: Any) -> str:
    """One value, or ``"a | b | c"`` when trials differ."""
    distinct: list[str] = []
    for value in values:
        text = "-" if value is None else str(value)
        if text not in distinct:
            distinct.append(text)
    if not distinct:
        return "-"
    return " | ".join(sorted(distinct, key=_natural)) if len(distinct) > 1 else distinct[0]


def _natural(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)
