"""Pareto reports: fronts, roles, winner rules and fallbacks, every output file, errors, and the page in Chromium.

The run directories here are fabricated: real plans (measured on a tiny UNet) with chosen metrics, so
the ranking is known exactly. ``test_report_e2e.py`` reports real (tiny) training runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from alternas.config import ReportConfig
from alternas.exceptions import CheckpointError, ConfigError
from alternas.plan import ExpertPlan
from alternas.report import build_report, knee_index, pareto_front, report_renderable, write_report
from alternas.rundir import SearchRunDir, TrialRecord
from alternas.search import Objectives

from .conftest import REPORT_TRIALS, fabricate_run, run_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return fabricate_run(tmp_path_factory.mktemp("search") / "run").root


@pytest.fixture(scope="module")
def written(run_dir):
    """The report of ``run_dir``, written once for the tests that read its files."""
    return write_report(run_dir)


@pytest.mark.parametrize(
    ("costs", "qualities", "lower", "front"),
    [
        ([1, 2, 3], [3, 2, 1], True, [0, 1, 2]),
        ([1, 2, 3], [1, 2, 3], True, [0]),
        ([1, 2, 3], [1, 2, 3], False, [0, 1, 2]),
        ([2, 1, 2], [5, 5, 4], True, [1, 2]),
        ([1, 1], [2, 2], True, [0, 1]),  # identical points do not dominate each other
    ],
)
def test_pareto_front(costs, qualities, lower, front):
    assert pareto_front(costs, qualities, lower) == front


def test_metrics_json_is_the_one_copy_and_an_older_trial_json_copy_is_read_beneath_it(run_dir, tmp_path):
    layout = SearchRunDir(shutil.copytree(run_dir, tmp_path / "run"))
    trial = layout.trial_dir("b")
    assert "metrics" not in json.loads((trial / "trial.json").read_text())
    assert ExpertPlan.load(trial / "plan.yaml").metrics is None
    assert json.loads((trial / "metrics.json").read_text())["fid"] == 11.0
    # an older run dir: trial.json held a copy, with the budget metrics only it had
    record = json.loads((trial / "trial.json").read_text())
    record["metrics"] = {"fid": 99.0, "generation_macs": 1.0, "budget_constraint": -0.25}
    (trial / "trial.json").write_text(json.dumps(record))
    metrics = layout.read_record("b").metrics
    assert (metrics.fid, metrics.budget_constraint) == (11.0, -0.25)
    assert metrics.generation_macs == json.loads((trial / "metrics.json").read_text())["generation_macs"] != 1.0
    (trial / "metrics.json").unlink()
    assert layout.read_record("b").metrics.fid == 99.0


def test_knee_is_the_point_farthest_from_the_chord():
    assert knee_index([1, 2, 3, 10], [10, 4, 3.5, 3], lower_is_better=True) == 1
    assert knee_index([1, 2], [2, 1], lower_is_better=True) is None
    assert knee_index([1, 2, 3], [3, 2, 1], lower_is_better=True) is None  # collinear


def test_report_ranks_trials_and_writes_every_file(run_dir, written):
    report = written
    roles = {e.trial_id: e.role for e in report.entries}
    assert roles == {
        "a": "front",
        "b": "front",
        "c": "front",
        "d": "dominated",
        "e": "infeasible",
        "f": "failed",
        "g": "unfinished",
    }
    assert report.front == ["c", "b", "a"]
    assert report.winner.trial_id == "b" and report.winner.qualified  # fewest MACs with FID <= 11.5
    assert "within 15%" in report.winner.message
    [teacher] = report.teachers
    assert (teacher.steps, teacher.quality, teacher.trials) == (10, 10.0, ["a", "b", "c", "d", "e"])

    frontier = json.loads((run_dir / "frontier.json").read_text())
    assert frontier["front"] == ["c", "b", "a"] and frontier["winner"]["trial_id"] == "b"
    trials = {t["trial_id"]: t for t in frontier["trials"]}
    assert trials["b"]["metrics"]["fid"] == 11.0 and trials["b"]["plan"]["experts"][0]["skipped_units"] == 8
    assert trials["f"]["error"].endswith("loss is nan")
    assert (
        frontier["protocol"]["sampler steps"] == "10"
        and frontier["protocol"]["training seeds"] == "0 | 1 | 2 | 3 | 4"
    )

    names = set(report.figures)
    assert {"pareto", "routing-b", "units-b", "samples-b", "training-d"} <= names
    assert not any(name.endswith(("-d", "-e")) for name in names if not name.startswith("training"))
    for relative in report.figures.values():
        with Image.open(run_dir / relative) as image:
            assert image.size[0] > 300 and len(np.unique(np.asarray(image.convert("L")))) > 10

    html = (run_dir / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == len(report.figures) and all(
        s.startswith("data:image/png;base64,") for s in sources
    )
    assert "http://" not in html and "https://" not in html and "<link" not in html
    markdown = (run_dir / "report.md").read_text()
    for link in re.findall(r"\]\(([^)]+\.png)\)", markdown):
        assert (run_dir / link).is_file(), link
    assert "| b | front ★ |" in markdown


@pytest.mark.parametrize(
    ("section", "winner", "qualified", "message"),
    [
        ({"winner": "knee"}, "b", True, "knee of the 3-point front"),
        ({"winner": "best_quality_under_macs", "macs_budget_share": 0.7}, "b", True, "at most 0.70x"),
        (
            {"winner": "best_quality_under_macs", "macs_budget_share": 0.05},
            "c",
            False,
            "falling back to the front trial with the fewest MACs",
        ),
        ({"quality_tolerance": 0.0}, "a", True, "within 0%"),
        ({"quality_metric": "accuracy", "quality_tolerance": 0.05}, "b", True, "accuracy"),
    ],
)
def test_winner_rules(run_dir, section, winner, qualified, message):
    report = build_report(run_dir, ReportConfig.model_validate(section))
    assert (report.winner.trial_id, report.winner.qualified) == (winner, qualified)
    assert message in report.winner.message


def test_no_trial_within_tolerance_falls_back_to_the_best_quality(tmp_path):
    trials = {"x": (0.5, 20.0, 0.5, True), "y": (0.0, 30.0, 0.4, True)}
    report = build_report(fabricate_run(tmp_path / "run", trials).root)
    assert report.winner.trial_id == "x" and not report.winner.qualified
    assert "no feasible trial has fid within 15% of the teacher's" in report.winner.message
    assert "falling back to the front trial with the best fid" in report.winner.message


def test_search_and_report_agree_on_the_front(tmp_path):
    """``search.json`` (the search's objectives) and ``frontier.json`` (the report) hold one front, also
    with a trial whose quality is NaN and one that is cheaper and better but infeasible."""
    trials = {**REPORT_TRIALS, "h": (0.1, float("nan"), 0.5, True)}
    layout = fabricate_run(tmp_path / "run", trials=trials)
    search_front = [r.trial_id for r in Objectives("fid", tolerance=0.15).front(layout.records())]
    report = build_report(layout.root)
    assert search_front == report.to_dict()["front"] == ["c", "b", "a"]  # to_dict() is frontier.json
    roles = {entry.trial_id: entry.role for entry in report.entries}
    assert roles["h"] == "unscored" and roles["e"] == "infeasible"


def test_all_infeasible_means_no_winner_but_still_a_report(tmp_path):
    report = write_report(fabricate_run(tmp_path / "run", {"x": (0.5, 12.0, 0.5, False)}).root)
    assert report.winner.trial_id is None and report.front == []
    assert "--trial" in report.winner.message and (report.run_dir / "report.html").is_file()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"quality_metric": "clip"}, "no trial measured it"),
        ({"quality_metric": "psnr"}, "psnr"),
        ({"winner": "best_quality_under_macs"}, "macs_budget_share"),
    ],
)
def test_report_settings_that_do_not_fit_are_clear_errors(run_dir, section, message):
    with pytest.raises(ConfigError, match=message):
        build_report(run_dir, ReportConfig.model_validate(section))


def test_terminal_rendering_names_the_winner(run_dir):
    from rich.console import Console

    console = Console(record=True, width=140)
    console.print(report_renderable(build_report(run_dir)))
    text = console.export_text()
    assert "front ★" in text and "dense @ 10 steps" in text and "TrainingDiverged: loss is nan" in text


def test_report_cli_writes_the_report_and_a_run_without_finished_trials_exits_2(run_dir, tmp_path, capsys):
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    code, out, err = run_cli(capsys, "report", str(copy), "--winner", "knee")
    assert code == 0, err
    assert "winner: trial b" in out and "report.html" in out

    layout = SearchRunDir(tmp_path / "empty")
    layout.write_record(TrialRecord(trial_id="0", status="failed", seed=0, error="boom"))
    layout.write_record(TrialRecord(trial_id="1", status="running", seed=1))
    for command in (("report", str(layout.root)), ("export", str(layout.root), "--out", str(tmp_path / "x"))):
        code, _, err = run_cli(capsys, *command)
        assert code == 2, command
        assert "has no finished trial (1 failed, 1 running)" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "report", str(copy), "--winner", "best")
    assert code == 2 and "report.winner" in err
    with pytest.raises(CheckpointError, match="not a search run directory"):
        build_report(tmp_path)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's `chromium` is not installed (scripts/install_chromium.sh)"
)
def test_report_html_renders_in_headless_chromium(run_dir, written, tmp_path):
    """Open report.html from disk, save a screenshot, and check every figure was decoded and painted."""
    report = written
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    page = (run_dir / "report.html").resolve().as_uri()
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            *flags,
            "--hide-scrollbars",
            f"--screenshot={screenshot}",
            "--window-size=1280,2400",
            page,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with Image.open(screenshot) as image:
        pixels = image.convert("RGB")
        assert pixels.size == (1280, 2400)
        colors = pixels.getcolors(maxcolors=1 << 20)
        assert len(colors) > 200  # not a blank page
        front_blue = sum(
            n for n, (r, g, b) in colors if abs(r - 31) < 12 and abs(g - 119) < 12 and abs(b - 180) < 12
        )
        assert front_blue > 200  # the Pareto plot's front markers (a colour only the figures use)

    probe = tmp_path / "probe.html"  # the same page plus a script reporting decoded images in the title
    probe.write_text(
        (run_dir / "report.html")
        .read_text()
        .replace(
            "</body>",
            "<script>window.onload = () => { const ok = [...document.images].filter(i => i.complete && "
            "i.naturalWidth > 0).length; document.title = `decoded ${ok} of ${document.images.length}`; };"
            "</script></body>",
        )
    )
    dom = subprocess.run(
        [CHROMIUM, *flags, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    count = len(report.figures)
    assert f"<title>decoded {count} of {count}</title>" in dom
