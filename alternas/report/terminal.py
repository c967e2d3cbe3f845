"""The report in the terminal: rich tables of the trials and teacher references, and the winner."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.table import Table as RichTable
from rich.text import Text

from .build import Report
from .tables import (
    Table,
    baseline_table,
    baseline_text,
    confirmed_table,
    confirmed_text,
    cost_unit_text,
    problems_table,
    stopped_table,
    teachers_table,
    trials_table,
)

__all__ = ["report_renderable", "print_report"]

_ROLE_STYLES = {"front": "bold cyan", "dominated": "dim", "infeasible": "red", "unscored": "yellow"}


def report_renderable(report: Report) -> Group:
    """Tables and the winner message as one rich renderable."""
    trials = trials_table(report, params=False)
    styles = [
        (
            "bold on dark_goldenrod"
            if row[0] == report.winner.trial_id
            else _ROLE_STYLES.get(row[1].split()[0], "")
        )
        for row in trials[1]
    ]
    parts = [
        _rich(trials, Text(f"trials of {report.run_dir.name}"), styles),
        Text(cost_unit_text(report), style="dim"),
    ]
    if report.confirmations:
        parts += [_rich(confirmed_table(report), "confirmed configurations"), Text(confirmed_text(report))]
    parts.append(_rich(teachers_table(report), "dense teacher references"))
    if report.baseline is not None:
        parts.append(_rich(baseline_table(report), "dense step-count baseline"))
    parts.append(Text(baseline_text(report)))
    stopped = stopped_table(report)
    if stopped[1]:
        parts.append(_rich(stopped, "stopped early at a rung (successive halving)"))
    problems = problems_table(report)
    if problems[1]:
        parts.append(_rich(problems, "failed and unfinished trials"))
    if report.winner.trial_id is None:
        color = "red"
    else:
        color = "green" if report.winner.qualified else "yellow"
    parts.append(Text(report.winner.message, style=f"bold {color}"))
    return Group(*parts)


def print_report(report: Report, console: Console) -> None:
    """Print :func:`report_renderable` to ``console``."""
    console.print(report_renderable(report))


def _rich(table: Table, title: str | Text, styles: list[str] | None = None) -> RichTable:
    header, rows = table
    rich_table = RichTable(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in header:
        rich_table.add_column(column, overflow="fold")
    for index, row in enumerate(rows):
        rich_table.add_row(*(Text(cell) for cell in row), style=styles[index] if styles else None)
    return rich_table
