"""Write a search's report into its run directory: ``report.html``, ``report.md``, ``frontier.json``, ``figures/``."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
    for stale in figures_dir.glob("*.png"):  # figures of trials that have left the front
        stale.unlink()
    figures = write_figures(report, figures_dir)
    report.figures = {name: path.relative_to(root).as_posix() for name, path in figures.items()}
    _write_text(root / REPORT_FILES["html"], render_html(report, figures))
    _write_text(root / REPORT_FILES["markdown"], render_markdown(report, figures, root))
    _write_text(root / REPORT_FILES["frontier"], json.dumps(report.to_dict(), indent=2, default=str, allow_nan=False))
    return report


def _write_text(path: Path, text: str) -> None:
    """Write atomically, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
