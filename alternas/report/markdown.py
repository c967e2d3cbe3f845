"""``report.md``: the report as Markdown, linking the PNG figures under ``figures/``."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from .build import Report
from .tables import (
    Table,
    confirmed_table,
    confirmed_text,
    cost_unit_text,
    baseline_table,
    baseline_text,
    experts_table,
    problems_table,
    stopped_table,
    routing_text,
    teachers_table,
    trials_table,
)

__all__ = ["render_markdown"]


def render_markdown(report: Report, figures: dict[str, Path], base: Path) -> str:
    """The report as Markdown; figure links are relative to ``base`` (the folder holding ``report.md``)."""

    def image(name: str, alt: str) -> str:
        path = figures.get(name)
        return (
            f"![{alt}]({Path(os.path.relpath(path, base)).as_posix()})"
            if path is not None
            else f"({alt}: not available)"
        )

    lines = [
        f"# alternas report: {_plain(report.run_dir.name)}",
        "",
        f"Run directory `{report.run_dir}`, generated {report.generated_at}; quality metric "
        f"**{report.config.quality_metric}**, winner rule **{report.winner.rule}**.",
        "",
        f"> {report.winner.message}",
        "",
    ]
    if report.winner.trial_id is not None:
        lines += [
            f"Export it: `alternas export {report.run_dir} --trial {report.winner.trial_id} "
            f"--out experts/{report.run_dir.name}`",
            "",
        ]
    lines += [
        "## Pareto front",
        "",
        f"Feasible, scored trials only. {cost_unit_text(report)}",
        "",
        image("pareto", "Pareto front"),
        "",
        "## Trials",
        "",
        _table(trials_table(report)),
        "",
    ]
    if report.confirmations:
        lines += ["## Confirmed configurations", "", confirmed_text(report), "", _table(confirmed_table(report)), ""]
    lines += [
        "## Dense teacher references",
        "",
        _table(teachers_table(report)),
        "",
        "## Dense step-count baseline",
        "",
        baseline_text(report),
        "",
        _table(baseline_table(report)),
        "",
    ]
    for entry in report.front_entries:
        tag = " (winner)" if entry.trial_id == report.winner.trial_id else ""
        lines += [
            f"## Front trial {entry.trial_id}{tag}",
            "",
            f"Sampler routing: {routing_text(entry)}",
            "",
            _table(experts_table(entry)),
            "",
            image(f"routing-{entry.trial_id}", "routing timeline"),
            "",
            image(f"units-{entry.trial_id}", "units kept per expert"),
            "",
            image(f"samples-{entry.trial_id}", "samples beside the teacher's"),
            "",
        ]
    lines += ["## Training curves", ""]
    lines += [
        image(f"training-{e.trial_id}", f"training curves of trial {e.trial_id}") + "\n"
        for e in report.entries
        if f"training-{e.trial_id}" in figures
    ]
    stopped = stopped_table(report)
    if stopped[1]:
        lines += ["## Stopped early at a rung (successive halving)", "", _table(stopped), ""]
    problems = problems_table(report)
    if problems[1]:
        lines += ["## Failed and unfinished trials", "", _table(problems), ""]
    lines += ["## Protocol", "", _table((["setting", "value"], [list(row) for row in report.protocol])), ""]
    return "\n".join(lines)


def _plain(text: str) -> str:
    """``text`` shown as itself in Markdown: HTML escaped, Markdown punctuation backslash-escaped."""
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", html.escape(text, quote=False))


def _table(table: Table) -> str:
    header, rows = table
    if not rows:
        return "(none)"

    def cell(text: str) -> str:
        return _plain(text).replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
