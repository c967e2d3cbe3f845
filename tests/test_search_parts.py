"""Search pieces without Ray: the Optuna searcher (seeds, constraints), objectives, the live display."""

from __future__ import annotations

import io

import optuna
import pytest
from rich.console import Console

from alternas.metrics import TrialMetrics
from alternas.recipe import load_recipe
from alternas.rundir import SearchRunDir, TrialRecord
from alternas.search import Objectives
from alternas.search.progress import SearchDisplay
from alternas.search.searcher import SEED_KEY, make_searcher

from .conftest import tiny_recipe


def test_searcher_seeds_trials_and_keeps_over_budget_trials_off_the_front(tmp_path):
    recipe = load_recipe(tiny_recipe(tmp_path))
    searcher = make_searcher(recipe)
    configs = [searcher.suggest(f"t{i}") for i in range(4)]
    assert [c[SEED_KEY] for c in configs] == [0, 1, 2, 3]
    assert all(c["experts"] in {"static", "2 learned", "2 manual", "3 learned", "3 manual"} for c in configs)
    # t0 is the best on both objectives but 30% over its budget; t3 diverged (no objectives)
    searcher.on_trial_complete("t0", {"fid": 1.0, "generation_macs": 1.0, "budget_constraint": 0.3})
    searcher.on_trial_complete("t1", {"fid": 2.0, "generation_macs": 3.0, "budget_constraint": -0.1})
    searcher.on_trial_complete("t2", {"fid": 3.0, "generation_macs": 2.0, "budget_constraint": 0.0})
    searcher.on_trial_complete("t3", {"step": 6})
    study = searcher._ot_study  # white box: what the sampler and Optuna's own front see
    assert sorted(t.number for t in study.best_trials) == [1, 2]
    assert study.trials[3].state.name == "FAIL"


def test_initial_points_come_first(tmp_path):
    data = tiny_recipe(tmp_path)
    point = {"experts": "3 manual", "budget.macs_share": 0.8, "eval.steps": 4}
    data["search"]["initial_points"] = [point]
    searcher = make_searcher(load_recipe(data))
    assert searcher.suggest("first") == {**point, SEED_KEY: 0}


def test_objectives_budget_and_front(tmp_path):
    objectives = Objectives("fid", tolerance=0.05)
    budget = objectives.with_budget(TrialMetrics(generation_macs=66.0, teacher_generation_macs=100.0), 0.6)
    assert budget.budget_generation_macs == pytest.approx(60.0)
    assert budget.macs_over_budget == pytest.approx(0.1) and budget.budget_constraint == pytest.approx(0.05)

    def record(trial_id, fid, macs, feasible=True, status="finished"):
        return TrialRecord(trial_id=trial_id, status=status, seed=0, feasible=feasible,
                           metrics={"fid": fid, "accuracy": fid, "generation_macs": macs})

    records = [record("a", 3.0, 10.0), record("b", 2.0, 20.0), record("c", 2.5, 25.0), record("d", 1.0, 5.0, False),
               record("e", 0.5, 1.0, status="failed"), record("f", 2.0, 20.0)]
    assert [r.trial_id for r in objectives.front(records)] == ["a", "b", "f"]
    assert [r.trial_id for r in Objectives("accuracy", 0.0).front(records)] == ["a"]


def test_display_draws_rows_progress_and_front(tmp_path):
    recipe = load_recipe(tiny_recipe(tmp_path))
    layout = SearchRunDir(recipe.output_dir)
    config = {"experts": "2 learned", "budget.macs_share": 0.6, "eval.steps": 4, SEED_KEY: 0}
    terminal = Console(file=io.StringIO(), force_terminal=True, width=160)
    with SearchDisplay(recipe, layout, terminal) as display:
        display.trial_started("aaaa", config)
        display.trial_result("aaaa", config, {"step": 3, "total_steps": 6, "loss_backbone": 0.25,
                                              "macs_share_hard": 0.7})
        layout.write_record(TrialRecord(trial_id="bbbb", status="finished", seed=1, feasible=True,
                                        params={"experts.count": 1, "experts.routing": "static",
                                                "budget.macs_share": 0.8, "eval.steps": 4},
                                        metrics={"fid": 12.5, "generation_macs": 2.0e7, "macs_share": 0.79}))
        display.trial_started("bbbb", config)
        display.trial_finished("bbbb")
        rendered = Console(file=io.StringIO(), width=160, record=True)
        rendered.print(display.render())
        text = rendered.export_text()
    assert "1/4 trials done (0 failed), 1 running" in text
    assert "aaaa" in text and "3/6" in text and "0.2500" in text and "0.700" in text
    assert "bbbb *" in text and "static, macs_share=0.8, 4 steps" in text and "12.5" in text
    assert "front (* above): bbbb (12.5, 20.0 M)" in text

    plain = Console(file=io.StringIO(), width=200)
    with SearchDisplay(recipe, layout, plain) as display:  # the finished trial is known from its record
        display.trial_started("cccc", config)
    lines = plain.file.getvalue()
    assert "trial cccc started: 2 learned, macs_share=0.6, 4 steps" in lines


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "gp", "grid"])
def test_searcher_pickles_fresh_and_used_into_a_working_searcher(tmp_path, sampler):
    """Ray Tune pickles the searcher into the Tuner and its search state: whatever Optuna's samplers hold
    (Optuna 5.1's NSGA-II holds a thread lock), the searcher must round-trip and keep working."""
    import ray.cloudpickle

    data = tiny_recipe(tmp_path)
    data["search"]["sampler"] = sampler
    searcher = make_searcher(load_recipe(data))
    fresh = ray.cloudpickle.loads(ray.cloudpickle.dumps(searcher))
    assert fresh.suggest("first")[SEED_KEY] == 0

    for i in range(3):
        searcher.suggest(f"t{i}")
    searcher.on_trial_complete("t0", {"fid": 1.0, "generation_macs": 1.0, "budget_constraint": 0.3})
    used = ray.cloudpickle.loads(ray.cloudpickle.dumps(searcher))
    assert [t.state.name for t in used.study.trials] == ["COMPLETE", "RUNNING", "RUNNING"]
    assert used.study.trials[0].system_attrs["constraints:generation_macs_over_budget"] == 0.3
    assert used.suggest("t3")[SEED_KEY] == 3  # numbering continues after the restored trials
    used.on_trial_complete("t1", {"fid": 2.0, "generation_macs": 3.0, "budget_constraint": -0.1})  # a running one
    assert [t.state.name for t in used.study.trials] == ["COMPLETE", "COMPLETE", "RUNNING", "RUNNING"]
    assert [t.number for t in used.study.best_trials] == [1]

    saved = tmp_path / "searcher-state.pkl"  # Tune's search-state file goes through save / restore
    used.save(str(saved))
    restored = make_searcher(load_recipe(data))
    restored.restore(str(saved))
    assert [t.state.name for t in restored.study.trials] == ["COMPLETE", "COMPLETE", "RUNNING", "RUNNING"]
    assert restored.suggest("t4")[SEED_KEY] == 4


def test_the_gp_sampler_proposes_from_its_model_after_the_startup_trials_and_keeps_the_constraint(tmp_path):
    data = tiny_recipe(tmp_path)
    data["search"].update(sampler="gp", startup_trials=3, num_trials=6)
    searcher = make_searcher(load_recipe(data))
    assert isinstance(searcher.study.sampler, optuna.samplers.GPSampler)
    for i in range(4):  # 3 random, then the first proposal of the fitted model
        config = searcher.suggest(f"t{i}")
        share = config["budget.macs_share"]
        searcher.on_trial_complete(f"t{i}", {"fid": 10.0 + 5 * share + i, "generation_macs": share * 1e7,
                                             "budget_constraint": 0.1 if i == 1 else -0.01})
    trials = searcher.study.trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert [t.system_attrs["constraints:generation_macs_over_budget"] for t in trials] == [-0.01, 0.1, -0.01, -0.01]
    assert 1 not in [t.number for t in searcher.study.best_trials]  # the over-budget trial is infeasible


def test_searcher_state_of_the_wrong_shape_is_refused(tmp_path):
    import pickle

    from alternas.exceptions import CheckpointError

    searcher = make_searcher(load_recipe(tiny_recipe(tmp_path)))
    for bad in ([1, 2], {"x": 1}, {**searcher.__getstate__(), "_version": 99}):
        path = tmp_path / "state.pkl"
        path.write_bytes(pickle.dumps(bad))
        with pytest.raises(CheckpointError, match="state.pkl"):
            searcher.restore(str(path))


def test_the_sampler_is_a_search_dimension_when_the_space_names_samplers(tmp_path):
    from alternas.exceptions import ConfigError
    from alternas.recipe import SAMPLER_PARAM, resolve_trial, search_params

    data = tiny_recipe(tmp_path)
    assert SAMPLER_PARAM not in search_params(load_recipe(data))  # only when asked for
    data["space"]["samplers"] = ["ddim", "unipc"]
    recipe = load_recipe(data)
    assert search_params(recipe)[:4] == ["experts", "budget.macs_share", "eval.steps", SAMPLER_PARAM]
    assert recipe.grid_size() == 5 * 2 * 2
    searcher = make_searcher(recipe)
    configs = [searcher.suggest(f"t{i}") for i in range(8)]
    assert {config[SAMPLER_PARAM] for config in configs} == {"ddim", "unipc"}
    for config in configs[:2]:
        trial = resolve_trial(recipe, config, seed=0)
        assert trial.run.eval.scheduler == trial.params[SAMPLER_PARAM] == config[SAMPLER_PARAM]

    data["search"]["initial_points"] = [{"experts": "2 manual", "budget.macs_share": 0.6, "eval.steps": 4}]
    with pytest.raises(ConfigError, match=r"missing \['eval.scheduler'\]"):
        load_recipe(data)
    data["search"]["initial_points"][0][SAMPLER_PARAM] = "unipc"
    assert make_searcher(load_recipe(data)).suggest("first")[SAMPLER_PARAM] == "unipc"
    data["space"]["samplers"] = ["ddim", "dpm"]
    with pytest.raises(ConfigError, match="unknown sampler `dpm`; choose one of ddim"):
        load_recipe(data)


def test_the_optuna_journal_shows_objective_names_constraints_and_trial_ids(tmp_path):
    """What optuna-dashboard shows: named objectives, the budget constraint as a user attribute, and the
    alternas trial id of every Optuna trial (also after the searcher is restored from its state)."""
    import ray.cloudpickle

    from alternas.search.study_file import load_study_file

    journal = tmp_path / "optuna.log"
    searcher = make_searcher(load_recipe(tiny_recipe(tmp_path)), journal)
    for trial_id in ("a1", "b2"):
        searcher.suggest(trial_id)
    searcher.on_trial_complete("a1", {"fid": 2.0, "generation_macs": 3.0, "budget_constraint": -0.1})
    restored = ray.cloudpickle.loads(ray.cloudpickle.dumps(searcher))
    restored.on_trial_complete("b2", {"fid": 1.0, "generation_macs": 4.0, "budget_constraint": 0.2})
    study = load_study_file(journal, "tiny")
    assert study.metric_names == ["fid", "generation_macs"]
    assert [t.user_attrs["alternas_trial_id"] for t in study.trials] == ["a1", "b2"]
    assert [t.user_attrs["generation_macs_over_budget"] for t in study.trials] == [-0.1, 0.2]
    assert [t.values for t in study.trials] == [[2.0, 3.0], [1.0, 4.0]]
