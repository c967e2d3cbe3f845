"""Confirmation: a finished search's best candidates retrained with new seeds as Ray Tune trials of the same
run directory (``report.confirm``, ``alternas confirm``)."""

from __future__ import annotations

import os

import pytest
import yaml

from alternas.report import build_report
from alternas.rundir import RUN_FILES, SearchRunDir
from alternas.search import search
from alternas.search.confirmation import confirmation_seeds
from alternas.search.state import SearchState

from .conftest import RayProcesses, run_cli, tiny_recipe


@pytest.mark.slow
def test_a_search_with_confirm_retrains_its_best_trial_and_the_export_ships_the_run_nearest_the_mean(tmp_path, capsys):
    data = tiny_recipe(tmp_path)
    data["search"].update(num_trials=2, seed=4)
    data["report"] = {"baseline": {"samplers": ["ddim"], "steps": [4, 8]}, "confirm": {"top_k": 1, "seeds": 2}}
    with RayProcesses(os.getpid()) as ray_processes:
        result = search(data)
    ray_processes.assert_all_gone()

    layout = SearchRunDir(result.run_dir)
    confirmation = result.confirmation
    assert result.state.status == "finished" and confirmation.state.status == "finished"
    (candidate,) = confirmation.state.candidates  # every trial is cheaper than dense @ 4: all open to win
    assert confirmation.state.seeds == confirmation_seeds(4, 2) == [1000400, 1000401]
    runs = layout.confirmations().records()
    assert len(runs) == 2 and {r.status for r in runs} == {"finished"}
    assert {r.confirms for r in runs} == {candidate} and sorted(r.seed for r in runs) == [1000400, 1000401]
    searched = layout.read_record(candidate)
    for run in runs:
        folder = layout.confirmations().trial_dir(run.trial_id)
        assert (folder / RUN_FILES["plan"]).is_file() and (folder / RUN_FILES["scores"]).is_file()
        config = yaml.safe_load((folder / RUN_FILES["config"]).read_text())
        assert config["train"]["seed"] == run.seed and run.params == searched.params
    assert [r.trial_id for r in layout.records()] == sorted(r.trial_id for r in result.records)  # search's untouched

    report = build_report(result.run_dir)
    assert set(report.confirmed) == {candidate} and report.winner.trial_id == candidate and report.winner.confirmed
    shipped = report.confirmed[candidate].shipped
    assert report.winner.shipped_run == shipped.trial_id

    code, out, err = run_cli(capsys, "confirm", str(result.run_dir), "--no-report")  # done: nothing reruns
    assert code in (0, None) and "2 of 2 runs finished" in out
    assert len(layout.confirmations().records()) == 2 and SearchState.read(layout).confirmation.sessions == 2
    code, out, err = run_cli(capsys, "confirm", str(result.run_dir), "--seeds", "3")
    assert code == 2 and "already holds a confirmation" in err and "--overwrite" in err

    out_dir = tmp_path / "experts"
    code, out, err = run_cli(capsys, "export", str(result.run_dir), "--out", str(out_dir))
    assert code in (0, None), err
    recorded = yaml.safe_load((out_dir / "experts.yaml").read_text())
    provenance = recorded["provenance"]
    assert provenance["trial"] == candidate and provenance["weights_from"] == f"confirmations/{shipped.trial_id}"
    confirmed = provenance["step_count_baseline"]["confirmed"]
    assert confirmed["shipped_run"] == shipped.trial_id and len(confirmed["seeds"]) == 2
    assert confirmed["quality"]["low"] <= confirmed["quality"]["value"] <= confirmed["quality"]["high"]


def test_confirm_refuses_a_run_dir_without_a_finished_search(tmp_path, capsys):
    code, out, err = run_cli(capsys, "confirm", str(tmp_path / "nothing"))
    assert code == 2 and "not a search run directory" in err
    layout = SearchRunDir(tmp_path / "run")
    layout.root.mkdir()
    layout.recipe_file.write_text(yaml.safe_dump(tiny_recipe(tmp_path)))
    SearchState(name="t", recipe="r", recipe_hash="h", status="interrupted", sampler="nsga2", seed=0,
                quality_metric="fid", planned_trials=2).write(layout)
    code, out, err = run_cli(capsys, "confirm", str(layout.root))
    assert code == 2 and "a search that is interrupted" in err and "--resume" in err


def test_validate_says_how_many_trials_confirmation_adds(tmp_path, capsys):
    data = tiny_recipe(tmp_path)
    data["report"]["confirm"] = {"top_k": 3, "seeds": 2}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
    code, out, err = run_cli(capsys, "validate", str(tmp_path / "recipe.yaml"))
    assert code in (0, None) and "best 3 trials retrained with 2 new seeds each: up to 6 more trials" in out
