"""The search benchmark keeps what the report concludes: the winner, how it was picked, the dense front."""

from __future__ import annotations

import pytest

from alternas.report import write_report
from bench.search import hypervolume, report_outcome

from .conftest import fabricate_run
from .test_baseline import add_baseline


def test_the_outcome_names_the_winner_the_dense_points_and_the_trials_beyond_them(tmp_path):
    # trials (share of dense MACs, FID): a (1.0, 10), b (0.54, 11), c (0.19, 14), d (0.76, 13), e infeasible
    layout = fabricate_run(tmp_path / "run")
    add_baseline(layout, {2: (0.2, 30.0), 5: (0.5, 12.0), 10: (1.0, 9.5)})
    outcome = report_outcome(write_report(layout.root))
    assert (outcome["winner"]["trial_id"], outcome["winner"]["qualified"]) == ("b", True)
    assert {key: point["fid"] for key, point in outcome["dense"].items()} == {"ddim@2": 30.0, "ddim@5": 12.0, "ddim@10": 9.5}
    trials = {t["trial_id"]: t for t in outcome["trials"]}
    assert trials["d"]["baseline"] == "dominated by dense ddim @ 5 steps: FID 12"
    assert trials["b"]["beyond_baseline"] is True and trials["b"]["quality"] == 11.0
    assert outcome["beyond_dense_front"] == 2  # b and c: e is beyond too, but over its budget
    # the front (a, b, c) in dense steps and FID, inside the box up to 6 dense steps and dense @ 2's FID 30
    front = sorted((t["dense_steps"], t["quality"]) for t in outcome["trials"] if t["trial_id"] in ("a", "b", "c"))
    assert outcome["hypervolume_reference"] == (6.0, 30.0)
    assert outcome["front_hypervolume"] == pytest.approx(hypervolume(front, (6.0, 30.0)))
    assert outcome["confirmed"] == [] and outcome["confirmed_hypervolume"] is None


def test_without_a_trial_beyond_the_front_the_outcome_says_the_fallback_picked_the_winner(tmp_path):
    layout = fabricate_run(tmp_path / "run")
    add_baseline(layout, {1: (0.1, 13.9), 5: (0.5, 9.0), 10: (1.0, 8.0)})
    outcome = report_outcome(write_report(layout.root))
    assert outcome["beyond_dense_front"] == 0
    assert (outcome["winner"]["qualified"], outcome["winner"]["dense_steps"]) == (False, 5)
