"""``report.html``: one self-contained page (inline CSS and base64 PNG figures) that opens from disk."""

from __future__ import annotations

import base64
from html import escape
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

__all__ = ["render_html"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1180px;
       color: #1d1d1f; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 0.9em; }
.winner { padding: 12px 16px; border-radius: 6px; margin: 16px 0; border-left: 6px solid; }
.ok { background: #eaf6ec; border-color: #2e7d32; } .fallback { background: #fff6e0; border-color: #ef8f00; }
.none { background: #fdecea; border-color: #c62828; }
table { border-collapse: collapse; font-size: 0.85em; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f7; } tr.front td:first-child { font-weight: bold; }
tr.winner-row { background: #fff3d6; }
img { max-width: 100%; border: 1px solid #eee; margin: 6px 0; }
code { background: #f5f5f7; padding: 1px 4px; border-radius: 3px; }
.routing { font-family: ui-monospace, monospace; font-size: 0.85em; }
"""


def render_html(report: Report, figures: dict[str, Path]) -> str:
    """The report page; ``figures`` maps figure names (see :func:`write_figures`) to PNG files."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>alternas report: {escape(report.run_dir.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>alternas report: {escape(report.run_dir.name)}</h1>",
        f'<p class="meta">run directory <code>{escape(str(report.run_dir))}</code> · generated '
        f"{escape(report.generated_at)} · quality metric <b>{escape(report.config.quality_metric)}</b> · "
        f"winner rule <b>{escape(report.winner.rule)}</b></p>",
        _winner_box(report),
        "<h2>Pareto front</h2>",
        "<p>Feasible, scored trials only; the line joins the front. Dominated trials are grey, infeasible ones "
        "red crosses, black stars are the dense teacher at each sampler setting, and the dashed line is the "
        f"dense step-count baseline front. {escape(cost_unit_text(report))}</p>",
        _image(figures.get("pareto"), "Pareto front"),
        "<h2>Trials</h2>",
        _table(trials_table(report), highlight=report),
    ]
    if report.confirmations:
        parts += ["<h2>Confirmed configurations</h2>", f"<p>{escape(confirmed_text(report))}</p>",
                  _table(confirmed_table(report))]
    parts += [
        "<h2>Dense teacher references</h2>",
        _table(teachers_table(report)),
        "<h2>Dense step-count baseline</h2>",
        f"<p>{escape(baseline_text(report))}</p>",
        _table(baseline_table(report)),
    ]
    for entry in report.front_entries:
        tag = " (winner)" if entry.trial_id == report.winner.trial_id else ""
        parts += [
            f'<h2 id="trial-{escape(entry.trial_id)}">Front trial {escape(entry.trial_id)}{tag}</h2>',
            f'<p class="routing">sampler routing: {escape(routing_text(entry))}</p>',
            _table(experts_table(entry)),
            _image(figures.get(f"routing-{entry.trial_id}"), "routing timeline"),
            _image(figures.get(f"units-{entry.trial_id}"), "units kept per expert"),
            _image(figures.get(f"samples-{entry.trial_id}"), "samples beside the teacher's"),
        ]
    parts.append("<h2>Training curves</h2>")
    for entry in report.entries:
        figure = figures.get(f"training-{entry.trial_id}")
        if figure is not None:
            parts.append(_image(figure, f"training curves of trial {entry.trial_id}"))
    stopped = stopped_table(report)
    if stopped[1]:
        parts += ["<h2>Stopped early at a rung (successive halving)</h2>", _table(stopped)]
    problems = problems_table(report)
    if problems[1]:
        parts += ["<h2>Failed and unfinished trials</h2>", _table(problems)]
    parts += [
        "<h2>Protocol</h2>",
        _table((["setting", "value"], [[label, value] for label, value in report.protocol])),
        '<p class="meta">Every number is also in <code>frontier.json</code>; <code>report.md</code> holds the '
        "same report as Markdown.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _winner_box(report: Report) -> str:
    winner = report.winner
    kind = "none" if winner.trial_id is None else ("ok" if winner.qualified else "fallback")
    export = ""
    if winner.trial_id is not None:
        export = (
            f"<br>export it: <code>alternas export {escape(str(report.run_dir))} --trial "
            f"{escape(winner.trial_id)} --out experts/{escape(report.run_dir.name)}</code>"
        )
    return f'<div class="winner {kind}">{escape(winner.message)}{export}</div>'


def _table(table: Table, highlight: Report | None = None) -> str:
    header, rows = table
    if not rows:
        return "<p>(none)</p>"
    lines = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        classes = []
        if highlight is not None:
            if row[1].startswith("front"):
                classes.append("front")
            if row[0] == highlight.winner.trial_id:
                classes.append("winner-row")
        attribute = f' class="{" ".join(classes)}"' if classes else ""
        lines.append(f"<tr{attribute}>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _image(path: Path | None, alt: str) -> str:
    if path is None:
        return f"<p>({escape(alt)}: not available)</p>"
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'
