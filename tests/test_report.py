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
    assert "front ★" in text and "dense ddim @ 10 steps" in text and "TrainingDiverged: loss is nan" in text


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


#: a search whose trials crowd into a narrow band of MACs: four front points a sixteenth of the prunable units
#: apart, each with a near twin behind it, and an infeasible one among them
CROWDED_TRIALS = {
    **{f"front{i}": (kept, 11.0 - 0.2 * i, 0.9, True) for i, kept in enumerate((0.4375, 0.5, 0.5625, 0.625))},
    **{f"twin{i}": (kept, 11.1 - 0.2 * i, 0.9, True) for i, kept in enumerate((0.4375, 0.5, 0.5625, 0.625))},
    "over": (0.5, 10.0, 0.9, False),
}


@pytest.fixture(scope="module")
def crowded_report(tmp_path_factory):
    """The report of a crowded run with a two-sampler dense baseline whose ladders run through the trials."""
    from alternas.evaluation.dense_ladder import BaselinePoint
    from alternas.report.dense_front import Baseline, write_baseline

    layout = fabricate_run(tmp_path_factory.mktemp("crowded") / "run", trials=CROWDED_TRIALS)
    teacher = build_report(layout.root).teachers[0]  # the dense teacher at the trials' 10 steps
    ladders = {"ddim": {4: 14.0, 6: 11.5, 8: 10.6, 10: 10.2, 20: 9.0}, "unipc": {4: 12.0, 6: 10.8, 8: 10.1, 10: 9.9, 20: 8.8}}
    write_baseline(layout.root, Baseline(
        key="crowded", scheduler="ddim", guidance_scale=1.0, num_samples=100, convention="macs", reference_steps=10,
        points=[BaselinePoint(sampler=sampler, steps=steps, quality={"fid": fid}, macs_per_step=teacher.macs / 10,
                              generation_macs=teacher.macs * steps / 10, latency_s=teacher.latency_s * steps / 10)
                for sampler, ladder in ladders.items() for steps, fid in ladder.items()],
    ))
    return write_report(layout.root)


def test_a_crowded_pareto_figure_labels_every_front_point_without_overlap_and_shows_the_winner_on_top(crowded_report):
    from alternas.report.figures import pareto_figure

    figure = pareto_figure(crowded_report)
    renderer = figure.canvas.get_renderer()
    winner = crowded_report.winner_entry
    for ax in figure.axes:
        texts = [text.get_text() for text in ax.texts]
        assert f"winner {winner.trial_id}" in texts and "dense ddim @ 10 steps" in texts
        assert any(text.endswith("dense points off the axes (see the baseline table)") for text in texts)
        boxes = [text.get_window_extent(renderer) for text in ax.texts]
        frame = ax.get_window_extent(renderer)
        for i, box in enumerate(boxes):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, texts[i]
            for j in range(i + 1, len(boxes)):
                assert not box.overlaps(boxes[j]), (texts[i], texts[j])
        ring = max(ax.collections, key=lambda artist: artist.get_zorder())
        assert ring.get_label() == f"winner ({winner.trial_id})"
    macs_axes = figure.axes[0]
    # off the MACs axes: both 20-step points (far beyond the trials' costs) and ddim @ 4 steps (far worse than
    # the worst trial)
    assert "3 dense points off the axes (see the baseline table)" in {text.get_text() for text in macs_axes.texts}
    front_labels = {e.trial_id for e in crowded_report.entries if e.trial_id in crowded_report.front} - {winner.trial_id}
    assert front_labels and front_labels <= {text.get_text() for text in macs_axes.texts}
    # framed on the trials and their teacher, 1.3x beyond them either way (in MMACs), not on the 20-step points
    costs = [e.macs for e in crowded_report.entries if e.macs] + [crowded_report.teachers[0].macs]
    assert macs_axes.get_xlim() == pytest.approx((min(costs) / 1.3e6, max(costs) * 1.3 / 1e6))


def test_the_sample_grids_name_the_class_of_each_column_and_only_when_columns_share_one(tmp_path):
    import torch

    from alternas.images import save_image_grid
    from alternas.report.figures import samples_figure

    layout = fabricate_run(tmp_path / "run")
    samples = layout.trial_dir("a") / "samples"
    for name in ("experts.png", "teacher.png"):
        save_image_grid(torch.rand(20, 1, 8, 8), samples / name, 10, 4)
    (samples / "conditions.json").write_text(json.dumps([str(i % 10) for i in range(20)]))
    entry = build_report(layout.root).entry("a")
    for ax in samples_figure(entry).axes:
        assert [label.get_text() for label in ax.get_xticklabels()] == [str(i) for i in range(10)]
        assert ax.get_xlabel() == "the class each column is conditioned on"
    (samples / "conditions.json").write_text(json.dumps([f"a photo of a {i}" for i in range(20)]))  # prompts
    assert all(not ax.get_xticks().size for ax in samples_figure(entry).axes)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's `chromium` is not installed (scripts/install_chromium.sh)"
)
@pytest.mark.parametrize("which", ["written", "crowded_report"])
def test_report_html_renders_in_headless_chromium(request, which, tmp_path):
    """Open report.html from disk, save a screenshot, and check every figure was decoded and painted (for
    the plain run and the crowded one)."""
    report = request.getfixturevalue(which)
    run_dir = report.run_dir
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
