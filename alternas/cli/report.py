"""``alternas report RUN_DIR``: Pareto front, winner, and report.html / report.md / frontier.json / figures."""

from __future__ import annotations

from pathlib import Path

import typer

from ..metrics import QUALITY_METRICS
from ._app import app, console, setup_logging


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="search run directory (the folder `alternas search` wrote)"),
    quality_metric: str | None = typer.Option(
        None, "--quality-metric", help=f"override `report.quality_metric` ({', '.join(QUALITY_METRICS)})"
    ),
    winner: str | None = typer.Option(
        None,
        "--winner",
        help="override `report.winner` (fewest_macs_within_quality, best_quality_under_macs, knee)",
    ),
    tolerance: float | None = typer.Option(
        None, "--tolerance", help="override `report.quality_tolerance` (0.1 = 10%)"
    ),
    macs_budget_share: float | None = typer.Option(
        None,
        "--macs-budget-share",
        help="override `report.macs_budget_share` (cap for best_quality_under_macs)",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Rank a search's trials by quality and MACs, pick the winner, and write the report into RUN_DIR."""
    setup_logging(verbose)
    from ..config import ReportConfig
    from ..report import REPORT_FILES, print_report, read_report_config, write_report
    from .._validation import validate_config

    config = read_report_config(run_dir)
    overrides = {
        "quality_metric": quality_metric,
        "winner": winner,
        "quality_tolerance": tolerance,
        "macs_budget_share": macs_budget_share,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    config = validate_config(ReportConfig, {**config.model_dump(), **overrides}, "command line", prefix="report")
    result = write_report(run_dir, config)
    print_report(result, console)
    written = ", ".join(str(run_dir / REPORT_FILES[key]) for key in ("html", "markdown", "frontier"))
    console.print(f"wrote {written} and {len(result.figures)} figures in {run_dir / REPORT_FILES['figures']}")
