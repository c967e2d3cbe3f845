"""Searches through Ray: end to end, a SIGKILL of the driver and a resume, Ctrl-C, and errors.

Every test checks that no Ray process outlives the search: the processes a search spawned are
recorded while it runs (Ray rewrites their titles, so they are followed by ancestry) and must all be
gone shortly after it ends.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
import yaml

from alternas.metrics import LOWER_IS_BETTER
from alternas.report import write_report
from alternas.rundir import SearchRunDir
from alternas.search import search

from .conftest import RayProcesses, cli_output, marked_ray_processes, start_search, tiny_recipe, wait_for


def brute_force_front(records, metric: str) -> set[str]:
    """Feasible finished trials that no other one beats on (MACs, quality): the O(n^2) definition."""
    sign = 1 if metric in LOWER_IS_BETTER else -1
    points = {r.trial_id: (r.metrics.generation_macs, sign * r.metrics.quality(metric))
              for r in records if r.status == "finished" and r.feasible}
    return {
        trial for trial, (macs, loss) in points.items()
        if not any(m <= macs and q <= loss and (m < macs or q < loss) for m, q in points.values())
    }


@pytest.mark.slow
def test_search_end_to_end_through_ray(tmp_path):
    """A grid over layouts, budgets and a learning rate that diverges: trials complete or fail with their
    reason, the run directory holds plans and metrics, the front is the non-dominated feasible set."""
    data = tiny_recipe(tmp_path)
    data["space"] = {
        "experts": {"counts": [1, 2], "partitions": ["learned", "static"]},
        "budget": {"macs_share": [0.6, 0.95]},
        "ranges": {"train.lr": [1.0e-3, 1.0e12]},
    }
    data["train"].update(steps=12, hypernet_steps=0)  # the hypernetwork never trains: every mask stays on
    data["search"] = {"sampler": "grid", "num_trials": 8, "max_concurrent_trials": 2, "cpus_per_trial": 1,
                      "budget_tolerance": 0.1, "max_retries": 1, "seed": 3}
    with RayProcesses(os.getpid()) as ray_processes:
        result = search(data)
    ray_processes.assert_all_gone()

    layout = SearchRunDir(result.run_dir)
    assert result.state.status == "finished" and len(result.records) == 8
    finished = [r for r in result.records if r.status == "finished"]
    failed = [r for r in result.records if r.status == "failed"]
    assert {r.params["train.lr"] for r in finished} == {1.0e-3} and len(finished) == 4
    assert {r.params["train.lr"] for r in failed} == {1.0e12} and len(failed) == 4
    assert all("TrainingDiverged" in r.error and r.attempts == 1 for r in failed)  # diverged: not retried
    assert sorted(r.seed for r in result.records) == list(range(3, 11))
    for record in finished:
        trial_dir = layout.trial_dir(record.trial_id)
        assert (trial_dir / "plan.yaml").is_file() and (trial_dir / "metrics.json").is_file()
        plan = yaml.safe_load((trial_dir / "plan.yaml").read_text())
        assert len(plan["experts"]) == record.params["experts.count"]
        assert record.feasible == (record.metrics.macs_over_budget <= 0.1)
    assert {r.feasible for r in finished} == {True, False}  # dense: 0.95 is within 10%, 0.6 is not

    front = {r.trial_id for r in result.front}
    assert front and front == brute_force_front(result.records, "fid")
    state = json.loads(layout.search_file.read_text())
    assert set(state["front"]) == front and state["finished_trials"] == 4 and state["failed_trials"] == 4
    write_report(result.run_dir)  # the report's front is the search's, in the same order (by MACs)
    assert json.loads((layout.root / "frontier.json").read_text())["front"] == state["front"]
    assert yaml.safe_load(layout.recipe_file.read_text())["report"]["quality_metric"] == "fid"


def _state_without_time(layout: SearchRunDir) -> dict:
    """``search.json`` less the time of its last write."""
    state = json.loads(layout.search_file.read_text())
    state.pop("updated_at")
    return state


@pytest.mark.slow
def test_sigkill_of_the_driver_then_resume(tmp_path):
    """kill -9 mid-search: no Ray process survives; a resume with a torn Tune state stops with its name; a
    resume finishes the recipe's trials, runs no finished trial again, and continues a mid-run trial from
    its checkpoint."""
    data = tiny_recipe(tmp_path)
    data["train"].update(steps=40, hypernet_steps=30, checkpoint_every=5, log_every=5)
    data["search"]["num_trials"] = 4
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(data))
    layout = SearchRunDir(data["output_dir"])

    def mid_training(trial_id: str) -> bool:
        steps = [int(p.name.removeprefix("step-")) for p in layout.trial_dir(trial_id).glob("checkpoints/step-*")]
        return bool(steps) and max(steps) <= 25  # checkpointed, and far from its evaluation

    def finished_and_checkpointed() -> bool:
        records = layout.records()
        return any(r.status == "finished" for r in records) and any(
            r.status == "running" and mid_training(r.trial_id) for r in records
        )

    process, marker = start_search(recipe_file)
    with RayProcesses(process.pid) as ray_processes:
        wait_for(finished_and_checkpointed, 600, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
    ray_processes.assert_all_gone()
    assert not marked_ray_processes(marker)
    before = {r.trial_id: r for r in layout.records()}
    checkpointed = {t for t, r in before.items()
                    if r.status == "running" and list(layout.trial_dir(t).glob("checkpoints/step-*"))}

    # a torn searcher state stops the resume before Ray starts, naming the file, and changes nothing
    # (Tune itself would start the experiment over with a half-restored searcher that never suggests)
    searcher_state = max(layout.ray_dir.glob("searcher-state-*.pkl"))
    intact, search_json = searcher_state.read_bytes(), _state_without_time(layout)
    searcher_state.write_bytes(intact[: len(intact) // 2])
    process, _ = start_search(recipe_file, "--resume")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2 and f"`{searcher_state}` is damaged" in " ".join((out + err).split()), out + err
    assert "Traceback" not in out + err and _state_without_time(layout) == search_json
    searcher_state.write_bytes(intact)

    process, marker = start_search(recipe_file, "--resume")
    with RayProcesses(process.pid) as ray_processes:
        out, err = process.communicate(timeout=600)
    assert process.returncode == 0, out + err
    ray_processes.assert_all_gone()
    after = {r.trial_id: r for r in layout.records()}
    assert sum(r.status == "finished" for r in after.values()) == 4
    for trial_id, record in before.items():
        if record.status == "finished":  # kept as it was: not trained again
            assert after[trial_id].attempts == 1 and after[trial_id].finished_at == record.finished_at
    continued = [after[t] for t in checkpointed]
    assert continued and all(r.status == "finished" and r.attempts == 2 for r in continued)
    assert all(r.resumed_from_step is not None and r.resumed_from_step >= 5 for r in continued)
    assert "Traceback" not in out + err


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_an_error_leaves_no_ray(tmp_path):
    """SIGINT, then SIGTERM of a resumed search, each while every planned trial runs: exit 130 with the
    resume command, trials left pending (not failed), no Ray process; a resume then finishes them. Then a
    resume that fails after Ray started (a damaged Ray state): exit 2, one message, no Ray process."""
    data = tiny_recipe(tmp_path)
    data["train"].update(steps=200, hypernet_steps=100, checkpoint_every=20, log_every=5)
    data["search"].update(num_trials=2, max_concurrent_trials=2)
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(data))
    layout = SearchRunDir(data["output_dir"])

    def both_running():
        return [r.status for r in layout.records()] == ["running", "running"]

    for stop, arguments in ((signal.SIGINT, ()), (signal.SIGTERM, ("--resume",))):
        process, marker = start_search(recipe_file, *arguments)
        with RayProcesses(process.pid) as ray_processes:
            wait_for(both_running, 600, process)
            process.send_signal(stop)
            out, err = process.communicate(timeout=300)
        assert process.returncode == 130, (stop, out + err)
        assert f"resume with: alternas search {recipe_file} --resume" in " ".join(err.split())
        assert "Traceback" not in out + err
        ray_processes.assert_all_gone()
        assert not marked_ray_processes(marker)
        assert json.loads(layout.search_file.read_text())["status"] == "interrupted"
        assert [r.status for r in layout.records()] == ["pending", "pending"]

    process, marker = start_search(recipe_file, "--resume")
    with RayProcesses(process.pid) as ray_processes:
        out, err = process.communicate(timeout=600)
    assert process.returncode == 0, out + err
    assert [r.status for r in layout.records()] == ["finished", "finished"]
    assert json.loads(layout.search_file.read_text())["status"] == "finished"
    ray_processes.assert_all_gone()

    (layout.ray_dir / "tuner.pkl").write_bytes(b"damaged")
    process, marker = start_search(recipe_file, "--resume")
    with RayProcesses(process.pid) as ray_processes:
        out, err = process.communicate(timeout=300)
    assert process.returncode == 2, out + err
    assert "cannot restore the search state" in err and "Traceback" not in out + err
    assert f"The finished trials in `{layout.trials_dir}` are intact" in " ".join(err.split())
    ray_processes.assert_all_gone()
    assert not marked_ray_processes(marker)


def test_an_existing_search_needs_resume_or_overwrite(tmp_path, monkeypatch, capsys):

    data = tiny_recipe(tmp_path)
    layout = SearchRunDir(data["output_dir"])
    layout.root.mkdir(parents=True)
    layout.search_file.write_text(json.dumps({
        "name": "tiny", "recipe": "x", "recipe_hash": "0", "sampler": "nsga2", "seed": 0,
        "quality_metric": "fid", "planned_trials": 4,
    }))
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(data))
    code, output = cli_output(capsys, "search", str(recipe_file))
    assert code == 2 and "pass --resume to continue it, or --overwrite" in output
    code, output = cli_output(capsys, "search", str(recipe_file), "--resume")
    assert code == 2 and "started from a different recipe" in output


def test_a_tuner_that_fails_to_build_leaves_the_run_dir_as_it_was(tmp_path, monkeypatch, capsys):
    """Any error between opening the run dir and the first trial (here the Tuner's construction, as with
    Optuna 5.1's unpicklable NSGA-II sampler) puts the run dir back, so the same command simply reruns."""
    from alternas.search import driver

    def broken_tuner(recipe, layout):
        (layout.ray_dir).mkdir(parents=True, exist_ok=True)
        (layout.ray_dir / "tuner.pkl").write_bytes(b"")  # what Tune leaves when pickling fails half-way
        raise TypeError("cannot pickle '_thread.lock' object")

    monkeypatch.setattr(driver, "_tuner", broken_tuner)
    data = tiny_recipe(tmp_path)
    layout = SearchRunDir(data["output_dir"])
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(data))
    for _ in range(2):  # a new run dir is removed, so the second try meets the same error, not "pass --resume"
        code, output = cli_output(capsys, "search", str(recipe_file), "--no-report")
        assert code == 1 and "unexpected TypeError: cannot pickle '_thread.lock' object" in output
        assert "Traceback" not in output
        log = output.split("The traceback is in ")[1].split()[0]
        assert "Traceback" in open(log).read() and "broken_tuner" in open(log).read()
        os.unlink(log)
        assert not layout.root.exists()

    layout.root.mkdir(parents=True)  # an interrupted search with no trial started: search.json restored
    before = json.dumps({"name": "tiny", "recipe": str(recipe_file), "recipe_hash": "0", "sampler": "nsga2",
                         "seed": 0, "quality_metric": "fid", "planned_trials": 4, "status": "interrupted"})
    layout.search_file.write_text(before)
    monkeypatch.setattr(driver, "config_hash", lambda data: "0")
    code, output = cli_output(capsys, "search", str(recipe_file), "--resume", "--no-report")
    assert code == 1 and "cannot pickle" in output
    os.unlink(output.split("The traceback is in ")[1].split()[0])
    assert json.loads(layout.search_file.read_text())["status"] == "interrupted"
    assert json.loads(layout.search_file.read_text()).get("sessions", 0) == 0
    assert not layout.ray_dir.exists()
