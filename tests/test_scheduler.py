"""Multi-objective successive halving: rung ranking, kept fractions, stopped records, resume."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler

from alternas.rundir import SearchRunDir, TrialRecord
from alternas.search.scheduler import (
    MOSuccessiveHalving,
    RungPoint,
    dominates,
    nondominated_fronts,
    rung_decision,
    rung_metrics,
    rung_order,
)


def _point(quality: float, macs: float, budget: float = 1e12, constraint: float = -0.01) -> RungPoint:
    return RungPoint(quality, macs, constraint, "continue", budget_macs=budget)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (_point(100, 10), _point(120, 12), True),  # better in both
        (_point(100, 12), _point(120, 12), True),  # better quality, same MACs
        (_point(100, 12), _point(120, 10), False),  # a trade-off: neither dominates
        (_point(100, 10), _point(100, 10), False),  # equal points do not dominate each other
        # over budget at the rung is not judged: 30 measured MACs count as the budget of 10
        (_point(90, 30, budget=10, constraint=2.0), _point(100, 12), True),
        (_point(300, 30), _point(100, 10, budget=8, constraint=0.23), False),
    ],
)
def test_domination_at_a_rung_uses_the_macs_a_trial_converges_to(a, b, expected):
    assert dominates(a, b, lower_is_better=True) is expected


def test_higher_is_better_quality_flips_the_quality_axis():
    assert dominates(_point(0.9, 10), _point(0.8, 12), lower_is_better=False)
    assert not dominates(_point(0.8, 10), _point(0.9, 12), lower_is_better=False)


# FID and MACs at one rung, in arrival order: fronts {a, c, b, g}, {d, e}, {f}
TABLE = {
    "a": _point(20, 10),
    "c": _point(10, 30),
    "b": _point(15, 20),
    "d": _point(25, 20),
    "e": _point(18, 30),
    "f": _point(30, 30),
    "g": _point(5, 40),
}


def test_rung_points_are_ordered_by_front_then_crowding_distance_then_arrival():
    assert nondominated_fronts(TABLE, lower_is_better=True) == [["a", "c", "b", "g"], ["d", "e"], ["f"]]
    without_g = {t: p for t, p in TABLE.items() if t != "g"}
    # b is the front's crowded middle point (distance 1 + 1), a and c its ends (infinite)
    assert rung_order(without_g, lower_is_better=True) == ["a", "c", "b", "d", "e", "f"]
    # with g, b and c are both middle points at distance 10/15 + 20/30: arrival order decides
    assert rung_order(TABLE, lower_is_better=True) == ["a", "g", "c", "b", "d", "e", "f"]


@pytest.mark.parametrize(
    ("reduction_factor", "expected"),
    [
        # eta 2: a alone; c: 2 <= eta arrivals, on the first front; b: outside the best 2 of 3 (crowded);
        # d: best 2 of 4, 3 trials on better fronts; e: 3 of 5, 3 better; f: 3 of 6; g: 4 of 7, first front
        (2, {"a": "continue", "c": "continue", "b": "stop", "d": "stop", "e": "stop", "f": "stop", "g": "continue"}),
        # eta 3: up to 3 arrivals split no front; d: best 2 of 4; e, f: 2 of 5 and 6; g: 3 of 7, second
        (3, {"a": "continue", "c": "continue", "b": "continue", "d": "stop", "e": "stop", "f": "stop", "g": "continue"}),
    ],
)
def test_each_arrival_is_kept_when_it_ranks_in_the_best_share_of_the_rung(reduction_factor, expected):
    arrived: dict[str, RungPoint] = {}
    decisions = {}
    for trial_id, point in TABLE.items():
        arrived[trial_id] = point
        decisions[trial_id] = rung_decision(arrived, trial_id, reduction_factor, lower_is_better=True)
    assert decisions == expected


def _report(scheduler, trial_id: str, rung: int, quality: float, macs: float, budget: float = 1e9,
            constraint: float = -0.01) -> str:
    result = {"step": 60 * (rung + 1), **rung_metrics(rung, quality, macs, budget, constraint)}
    return scheduler.on_trial_result(None, SimpleNamespace(trial_id=trial_id), result)


def test_a_trial_over_its_budget_at_a_rung_continues_when_its_budget_ranks_it_first(tmp_path):
    """The failure of the first rule: a trial still above its budget at rung 0 (12 MMACs measured, 9 allowed)
    was stopped as infeasible, yet it ended feasible as the cheapest point of the front."""
    layout = SearchRunDir(tmp_path / "run")
    for trial_id in "ab":
        layout.write_record(TrialRecord(trial_id=trial_id, status="running", seed=0))
    scheduler = MOSuccessiveHalving(str(layout.root), lower_is_better=True, reduction_factor=2)
    assert _report(scheduler, "a", 0, quality=30.0, macs=10e6, budget=10e6) == TrialScheduler.CONTINUE
    assert _report(scheduler, "b", 0, quality=28.0, macs=12e6, budget=9e6, constraint=0.31) == TrialScheduler.CONTINUE
    assert json.loads(layout.rungs_file.read_text())["0"]["b"] == {
        "quality": 28.0, "generation_macs": 12e6, "constraint": 0.31, "decision": "continue", "budget_macs": 9e6}


def test_a_trial_outside_the_kept_share_stops_and_keeps_its_partial_results(tmp_path):
    layout = SearchRunDir(tmp_path / "run")
    for trial_id in "abcde":
        layout.write_record(TrialRecord(trial_id=trial_id, status="running", seed=0))
    scheduler = MOSuccessiveHalving(str(layout.root), lower_is_better=True, reduction_factor=2)
    assert scheduler.on_trial_result(None, SimpleNamespace(trial_id="a"), {"step": 10}) == TrialScheduler.CONTINUE
    assert _report(scheduler, "a", 0, quality=100.0, macs=10e6) == TrialScheduler.CONTINUE  # alone at the rung
    assert _report(scheduler, "b", 0, quality=120.0, macs=12e6) == TrialScheduler.STOP  # a dominates it
    assert _report(scheduler, "c", 0, quality=90.0, macs=11e6) == TrialScheduler.CONTINUE  # best 2 of 3: a, c
    # over budget at the rung, ranked at its budget of 4 MMACs: it dominates every other trial
    assert _report(scheduler, "d", 0, quality=50.0, macs=5e6, budget=4e6, constraint=0.24) == TrialScheduler.CONTINUE
    assert _report(scheduler, "a", 1, quality=80.0, macs=9e6) == TrialScheduler.CONTINUE  # rungs are separate

    stopped = layout.read_record("b")
    assert stopped.status == "stopped" and stopped.feasible is True and stopped.finished_at is not None
    assert stopped.metrics.values() == {"step": 60.0, "rung": 0.0, "rung_quality": 120.0, "rung_generation_macs": 12e6,
                                        "rung_budget_generation_macs": 1e9, "rung_budget_constraint": -0.01}
    assert not (layout.trial_dir("b") / "metrics.json").exists()  # never evaluated: the rung's results only
    assert "stopped at rung 0 (step 60): outside the best 1 of the 2 trials there" in stopped.error
    assert layout.read_record("c").status == "running" and layout.read_record("d").status == "running"
    saved = json.loads(layout.rungs_file.read_text())
    assert {trial: point["decision"] for trial, point in saved["0"].items()} == {
        "a": "continue", "b": "stop", "c": "continue", "d": "continue"}

    resumed = MOSuccessiveHalving(str(layout.root), lower_is_better=True, reduction_factor=2)  # reads rungs.json
    assert _report(resumed, "c", 0, quality=500.0, macs=50e6) == TrialScheduler.CONTINUE  # its decision stands
    # best 3 of 5: d, then a and c; e (95, 11.5 MMACs) lies on the third front, behind c
    assert _report(resumed, "e", 0, quality=95.0, macs=11.5e6) == TrialScheduler.STOP
    assert json.loads(layout.rungs_file.read_text())["0"]["c"]["quality"] == 90.0


@pytest.mark.slow
def test_a_search_with_mo_asha_stops_trials_outside_the_kept_share_at_the_rung(tmp_path):
    """Four trials in turn, one rung at half their steps: each trial reports its rung evaluation, the
    ones outside the kept share end as stopped with their rung results, the others finish; the report lists both.
    One budget that no layout meets at the rung (tolerance 0): all rank at the budget's MACs, by FID alone."""
    import os

    from alternas.report import write_report
    from alternas.search import search

    from .conftest import RayProcesses, tiny_recipe

    data = tiny_recipe(tmp_path)
    data["space"] = {"experts": {"counts": [1, 2, 3, 4], "partitions": ["static", "learned"]},
                     "budget": {"macs_share": [0.6]}}
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
    assert all(math.isfinite(point.budget_macs) for point in rung.values())  # the trainable reported its budget
    arrived: dict[str, RungPoint] = {}
    for trial_id, point in rung.items():  # each decision, replayed in arrival order
        arrived[trial_id] = point
        assert rung_decision(arrived, trial_id, reduction_factor=2, lower_is_better=True) == point.decision
    for record in result.records:
        assert (rung[record.trial_id].decision == "stop") == (record.status == "stopped")
        if record.status == "stopped":
            assert record.metrics.rung_quality == rung[record.trial_id].quality
            assert not (layout.trial_dir(record.trial_id) / "metrics.json").exists()
    assert {r.trial_id for r in result.front} <= {r.trial_id for r in result.records if r.status == "finished"}
    report = write_report(result.run_dir)
    stopped = {r.trial_id for r in result.records if r.status == "stopped"}
    assert {e.trial_id for e in report.entries if e.role == "stopped"} == stopped
    markdown = (layout.root / "report.md").read_text()
    section = markdown.split("## Stopped early at a rung (successive halving)")[1].split("## ")[0]
    assert all(trial_id in section for trial_id in stopped)
