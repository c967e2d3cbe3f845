"""Multi-objective successive halving: constrained domination, rung decisions, stopped records, resume."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler

from alternas.rundir import SearchRunDir, TrialRecord
from alternas.search.scheduler import MOSuccessiveHalving, RungPoint, dominates, rung_metrics


def _point(quality: float, macs: float, constraint: float = -0.01) -> RungPoint:
    return RungPoint(quality, macs, constraint, "continue")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (_point(100, 10), _point(120, 12), True),  # better in both
        (_point(100, 12), _point(120, 12), True),  # better quality, same MACs
        (_point(100, 12), _point(120, 10), False),  # a trade-off: neither dominates
        (_point(100, 10), _point(100, 10), False),  # equal points do not dominate each other
        (_point(300, 30), _point(100, 10, constraint=0.05), True),  # feasible beats infeasible
        (_point(300, 30, constraint=0.02), _point(100, 10, constraint=0.05), True),  # smaller excess
        (_point(100, 10, constraint=0.05), _point(300, 30, constraint=0.02), False),
    ],
)
def test_constrained_domination_with_fid(a, b, expected):
    assert dominates(a, b, lower_is_better=True) is expected


def test_higher_is_better_quality_flips_the_quality_axis():
    assert dominates(_point(0.9, 10), _point(0.8, 12), lower_is_better=False)
    assert not dominates(_point(0.8, 10), _point(0.9, 12), lower_is_better=False)


def _report(scheduler, trial_id: str, rung: int, quality: float, macs: float, constraint: float = -0.01) -> str:
    result = {"step": 60 * (rung + 1), **rung_metrics(rung, quality, macs, constraint)}
    return scheduler.on_trial_result(None, SimpleNamespace(trial_id=trial_id), result)


def test_a_trial_dominated_at_its_rung_stops_and_keeps_its_partial_results(tmp_path):
    layout = SearchRunDir(tmp_path / "run")
    for trial_id in "abcde":
        layout.write_record(TrialRecord(trial_id=trial_id, status="running", seed=0))
    scheduler = MOSuccessiveHalving(str(layout.root), lower_is_better=True)
    assert scheduler.on_trial_result(None, SimpleNamespace(trial_id="a"), {"step": 10}) == TrialScheduler.CONTINUE
    assert _report(scheduler, "a", 0, quality=100.0, macs=10e6) == TrialScheduler.CONTINUE  # alone at the rung
    assert _report(scheduler, "b", 0, quality=120.0, macs=12e6) == TrialScheduler.STOP  # a dominates it
    assert _report(scheduler, "c", 0, quality=90.0, macs=11e6) == TrialScheduler.CONTINUE  # a trade-off with a
    assert _report(scheduler, "d", 0, quality=50.0, macs=5e6, constraint=0.3) == TrialScheduler.STOP  # infeasible
    assert _report(scheduler, "a", 1, quality=80.0, macs=9e6) == TrialScheduler.CONTINUE  # rungs are separate

    stopped = layout.read_record("b")
    assert stopped.status == "stopped" and stopped.feasible is True and stopped.finished_at is not None
    assert stopped.metrics.values() == {"step": 60.0, "rung": 0.0, "rung_quality": 120.0,
                                        "rung_generation_macs": 12e6, "rung_budget_constraint": -0.01}
    assert not (layout.trial_dir("b") / "metrics.json").exists()  # never evaluated: the rung's results only
    assert "stopped at rung 0 (step 60)" in stopped.error
    assert layout.read_record("d").feasible is False and layout.read_record("c").status == "running"
    saved = json.loads(layout.rungs_file.read_text())
    assert {trial: point["decision"] for trial, point in saved["0"].items()} == {
        "a": "continue", "b": "stop", "c": "continue", "d": "stop"}

    resumed = MOSuccessiveHalving(str(layout.root), lower_is_better=True)  # a resumed search reads rungs.json
    assert _report(resumed, "c", 0, quality=500.0, macs=50e6) == TrialScheduler.CONTINUE  # its decision stands
    assert _report(resumed, "e", 0, quality=95.0, macs=11.5e6) == TrialScheduler.STOP  # c (90, 11M) dominates it
    assert json.loads(layout.rungs_file.read_text())["0"]["c"]["quality"] == 90.0


@pytest.mark.slow
def test_a_search_with_mo_asha_stops_dominated_trials_at_the_rung(tmp_path):
    """Four trials in turn, one rung at half their steps: each trial reports its rung evaluation, the
    dominated ones end as stopped with their rung results, the others finish; the report lists both."""
    import os

    from alternas.report import write_report
    from alternas.search import search

    from .conftest import RayProcesses, tiny_recipe

    data = tiny_recipe(tmp_path)
    data["space"] = {"experts": {"counts": [1, 2], "partitions": ["static", "learned"]},
                     "budget": {"macs_share": [0.6, 0.95]}}
    data["search"] = {"sampler": "grid", "num_trials": 4, "max_concurrent_trials": 1, "cpus_per_trial": 1,
                      "budget_tolerance": 0.0, "scheduler": "mo_asha", "rungs": [0.5], "rung_samples": 8}
    with RayProcesses(os.getpid()) as ray_processes:
        result = search(data)
    ray_processes.assert_all_gone()

    layout = SearchRunDir(result.run_dir)
    statuses = sorted(r.status for r in result.records)
    assert result.state.status == "finished" and len(statuses) == 4 and "stopped" in statuses
    assert set(statuses) == {"finished", "stopped"} and result.state.stopped_trials == statuses.count("stopped")
    rung = {trial: RungPoint(**point) for trial, point in json.loads(layout.rungs_file.read_text())["0"].items()}
    assert set(rung) == {r.trial_id for r in result.records}  # every trial reported the rung
    for record in result.records:
        beaten = any(dominates(p, rung[record.trial_id], lower_is_better=True) for t, p in rung.items()
                     if t != record.trial_id)
        assert (rung[record.trial_id].decision == "stop") == (record.status == "stopped")
        if record.status == "stopped":
            assert beaten and record.metrics.rung_quality == rung[record.trial_id].quality
            assert not (layout.trial_dir(record.trial_id) / "metrics.json").exists()
    assert {r.trial_id for r in result.front} <= {r.trial_id for r in result.records if r.status == "finished"}
    report = write_report(result.run_dir)
    stopped = {r.trial_id for r in result.records if r.status == "stopped"}
    assert {e.trial_id for e in report.entries if e.role == "stopped"} == stopped
    markdown = (layout.root / "report.md").read_text()
    section = markdown.split("## Stopped early at a rung (successive halving)")[1].split("## ")[0]
    assert all(trial_id in section for trial_id in stopped)
