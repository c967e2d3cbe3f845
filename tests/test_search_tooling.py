"""A finished search for the tools around it: the Optuna study file that ``optuna-dashboard`` opens."""

from __future__ import annotations

import math

import optuna
import pytest

from alternas.rundir import SearchRunDir
from alternas.search import search
from alternas.search.study_file import load_study_file

from .test_recipe import tiny_recipe
from .test_search import RayProcesses


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory):
    """A 2-trial search."""
    import os

    data = tiny_recipe(tmp_path_factory.mktemp("tooling"))
    data["search"].update(num_trials=2, seed=5)
    with RayProcesses(os.getpid()) as ray_processes:
        result = search(data)
    ray_processes.assert_all_gone()
    return result


@pytest.mark.slow
def test_the_study_file_holds_every_trial_with_its_objectives(finished_search):
    layout = SearchRunDir(finished_search.run_dir)
    study = load_study_file(layout.study_file, "tiny")  # Optuna's JournalStorage, as optuna-dashboard reads it
    assert [direction.name for direction in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert len(study.trials) == 2 and {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    records = sorted(finished_search.records, key=lambda r: r.seed)
    for trial, record in zip(sorted(study.trials, key=lambda t: t.number), records):
        assert record.seed == 5 + trial.number
        assert trial.values == pytest.approx([record.metrics["fid"], record.metrics["generation_macs"]])
        assert trial.params["experts"] in ("static", "2 learned", "2 manual", "3 learned", "3 manual")
        constraint = trial.constraints["generation_macs_over_budget"]
        assert math.isclose(constraint, record.metrics["budget_constraint"]) and (constraint <= 0) == record.feasible
