"""Pareto reports of a search: which trials trade quality for compute best, and which one to ship.

The entry point for the search driver and the CLI is :func:`write_report`::

    from alternas.report import write_report

    report = write_report("reports/quickstart")  # writes report.html, report.md, frontier.json, figures/
    report.winner.trial_id   # the recommended trial, or None when no trial is eligible
    report.winner.message    # who won and why (or why nothing qualified and what was picked instead)

:func:`build_report` does the same ranking without writing anything. Winner rules are pluggable
(:class:`WinnerRule`, :data:`WINNER_RULES`); the recipe's ``report:`` section picks one.
"""

from ..metrics import LOWER_IS_BETTER
from ..pareto import knee_index, pareto_front
from .dense_front import BASELINE_FILE, Baseline, read_baseline
from .build import Report, build_report
from .terminal import print_report, report_renderable
from .trial_entries import TeacherReference, TrialEntry, read_report_config
from .winner import WINNER_RULES, WinnerChoice, WinnerRule, choose_winner
from .write import REPORT_FILES, write_report

__all__ = [
    "BASELINE_FILE",
    "Baseline",
    "LOWER_IS_BETTER",
    "REPORT_FILES",
    "WINNER_RULES",
    "Report",
    "TeacherReference",
    "TrialEntry",
    "WinnerChoice",
    "WinnerRule",
    "build_report",
    "choose_winner",
    "knee_index",
    "pareto_front",
    "print_report",
    "read_baseline",
    "read_report_config",
    "report_renderable",
    "write_report",
]
