"""Write a search's report into its run directory: ``report.html``, ``report.md``, ``frontier.json``, ``figures/``."""

from __future__ import annotations

import json
from pathlib import Path

from .._atomic import atomic_write_text
from ..config import ReportConfig
from ..exceptions import CheckpointError
from .build import Report, build_report
from .figures import write_figures
from .html import render_html
from .markdown import render_markdown

__all__ = ["REPORT_FILES", "write_report"]

#: the files a report adds to a run directory
REPORT_FILES = {
    "html": "report.html",
    "markdown": "report.md",
    "frontier": "frontier.json",
    "figures": "figures",
}


def write_report(run_dir: str | Path, config: ReportConfig | None = None) -> Report:
    """Build the report of a search run directory and write it there.

    Args:
        run_dir: the folder ``alternas search`` wrote.
        config: the report section; ``None`` reads ``report:`` from the run's ``recipe.yaml``.

    Returns:
        The :class:`Report`; ``report.winner`` is the recommended trial (``winner.trial_id`` is ``None``
        when no trial is eligible) and ``report.figures`` the written figures.

    Raises:
        CheckpointError: not a search run directory, or no finished trial.
        ConfigError: the report section does not fit the trials.
    """
    report = build_report(run_dir, config)
    root = report.run_dir
    figures_dir = root / REPORT_FILES["figures"]
    if figures_dir.is_symlink() or (figures_dir.exists() and not figures_dir.is_dir()):
        raise CheckpointError(
            f"`{figures_dir}` is a link or a file, not a folder; the report writes only inside the run "
            "directory: remove it and run `alternas report` again"
        )
    figures = write_figures(report, figures_dir)
    for stale in set(figures_dir.glob("*.png")) - set(figures.values()):  # trials that left the front
        stale.unlink()
    report.figures = {name: path.relative_to(root).as_posix() for name, path in figures.items()}
    atomic_write_text(root / REPORT_FILES["html"], render_html(report, figures))
    atomic_write_text(root / REPORT_FILES["markdown"], render_markdown(report, figures, root))
    atomic_write_text(
        root / REPORT_FILES["frontier"], json.dumps(report.to_dict(), indent=2, default=str, allow_nan=False)
    )
    return report
