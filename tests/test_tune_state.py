"""A resume reads Ray Tune's saved state first: a damaged file stops it with the file's name (Tune itself
would start the experiment over, or wait forever for a half-restored searcher); a damaged Tune
checkpoint of a trial sends the trial back to its own folder's checkpoint."""

from __future__ import annotations

import contextlib
import json
import logging
import pickle

import pytest
import ray.cloudpickle
from ray import tune

from alternas.exceptions import CheckpointError
from alternas.recipe import load_recipe
from alternas.search import trainable
from alternas.search.searcher import make_searcher
from alternas.search.tune_state import check_tune_state

from .conftest import tiny_recipe

#: a time stamp in Tune's state file names
STAMP = "2026-01-02_00-00-00"
#: Tune's state files a resumed ``fit`` loads (by name pattern), written as Tune writes them (the
#: searcher's state is filled in by ``_loaded``: it needs a recipe)
LOADED = {
    "experiment_state-*.json": json.dumps(
        {"trial_data": [[json.dumps({"trial_id": "a1b2"}), json.dumps({"num_failures": 0})]], "runner_data": {}}
    ).encode(),
    "search_gen_state-*.json": ray.cloudpickle.dumps(
        {"counter": 1, "total_samples": 4, "finished": False, "experiment": None, "name:ConcurrencyLimiter": {}}
    ),
    "searcher-state-*.pkl": None,
}
#: and the Tuner, which ``Tuner.restore`` loads (and reports) itself
STATE = {"tuner.pkl": b"not loaded here", **LOADED}


def _loaded(pattern, tmp_path):
    if pattern == "searcher-state-*.pkl":
        return pickle.dumps(make_searcher(load_recipe(tiny_recipe(tmp_path))).__getstate__())
    return STATE[pattern]


def _write_state(ray_dir):
    ray_dir.mkdir()
    for pattern in STATE:
        (ray_dir / pattern.replace("*", STAMP)).write_bytes(_loaded(pattern, ray_dir.parent))


def _start_a_trial(trials_dir):
    (trials_dir / "a1b2").mkdir(parents=True)
    (trials_dir / "a1b2" / "trial.json").write_text("{}")


def test_a_loadable_state_passes_and_only_the_newest_file_counts(tmp_path):
    ray_dir, trials_dir = tmp_path / "ray", tmp_path / "trials"
    _write_state(ray_dir)
    _start_a_trial(trials_dir)
    (ray_dir / "experiment_state-2026-01-01_00-00-00.json").write_bytes(b"{")  # older: Tune never reads it
    check_tune_state(ray_dir, trials_dir)
    check_tune_state(tmp_path / "no-ray-state-yet", tmp_path / "no-trials-yet")


@pytest.mark.parametrize("pattern", sorted(STATE))
def test_a_missing_state_file_stops_a_resume_once_trials_have_started(tmp_path, pattern):
    ray_dir, trials_dir = tmp_path / "ray", tmp_path / "trials"
    _write_state(ray_dir)
    (ray_dir / pattern.replace("*", STAMP)).unlink()
    check_tune_state(ray_dir, trials_dir)  # no trial yet: Tune starts afresh and nothing is lost
    _start_a_trial(trials_dir)
    with pytest.raises(CheckpointError) as error:
        check_tune_state(ray_dir, trials_dir)
    assert f"`{ray_dir / pattern}` is missing" in str(error.value)


@pytest.mark.parametrize("pattern", sorted(LOADED))
@pytest.mark.parametrize("damage", [lambda data: data[: len(data) // 2], lambda data: b"\xff\x00garbage"])
def test_a_damaged_state_file_is_named_with_what_survives(tmp_path, pattern, damage):
    ray_dir = tmp_path / "ray"
    _write_state(ray_dir)
    path = ray_dir / pattern.replace("*", STAMP)
    path.write_bytes(damage(_loaded(pattern, tmp_path)))
    with pytest.raises(CheckpointError) as error:
        check_tune_state(ray_dir, tmp_path / "trials")
    message = str(error.value)
    assert f"`{path}` is damaged" in message
    assert f"`{tmp_path / 'trials'}` are intact" in message and "--overwrite" in message


@pytest.mark.parametrize(
    "pattern, data",
    [
        ("search_gen_state-*.json", ray.cloudpickle.dumps([1, 2])),
        ("search_gen_state-*.json", ray.cloudpickle.dumps({"x": 1})),
        ("searcher-state-*.pkl", pickle.dumps([1, 2])),
        ("searcher-state-*.pkl", pickle.dumps({"x": 1})),
        ("experiment_state-*.json", b"[1, 2]"),
        ("experiment_state-*.json", b'{"x": 1}'),
        ("experiment_state-*.json", json.dumps({"trial_data": [], "runner_data": {}}).encode()),
        ("experiment_state-*.json", json.dumps({"trial_data": [["{}"]], "runner_data": {}}).encode()),
        ("experiment_state-*.json", json.dumps({"trial_data": [["{}", "{}"]], "runner_data": 3}).encode()),
    ],
)
def test_a_state_file_of_the_wrong_shape_is_damaged(tmp_path, pattern, data):
    """Loading is not enough: a valid pickle of another shape would half-restore Tune's search."""
    ray_dir, trials_dir = tmp_path / "ray", tmp_path / "trials"
    _write_state(ray_dir)
    _start_a_trial(trials_dir)
    path = ray_dir / pattern.replace("*", STAMP)
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as error:
        check_tune_state(ray_dir, trials_dir)
    assert f"`{path}` is damaged" in str(error.value)


def test_unreadable_tune_checkpoint_metadata_falls_back_to_the_trial_folder(tmp_path, monkeypatch, caplog):
    tune_dir = tmp_path / "tune-checkpoint"
    tune_dir.mkdir()
    (tune_dir / ".metadata.json").write_text('{"step": 3')  # torn by a kill
    local = tmp_path / "trial" / "checkpoints" / "step-00000005"
    local.mkdir(parents=True)
    (local / "trainer.pt").write_bytes(b"state")
    monkeypatch.setattr(trainable.tune, "get_checkpoint", lambda: tune.Checkpoint.from_directory(tune_dir))
    with contextlib.ExitStack() as stack, caplog.at_level(logging.WARNING, logger="alternas"):
        assert trainable._resume_point(tmp_path / "trial", stack) == (local, 5)
    assert "ignoring Tune's checkpoint" in caplog.text and "metadata cannot be read" in caplog.text


def test_tune_checkpoint_ahead_of_the_trial_folder_is_taken(tmp_path, monkeypatch):
    tune_dir = tmp_path / "tune-checkpoint"
    tune_dir.mkdir()
    checkpoint = tune.Checkpoint.from_directory(tune_dir)
    checkpoint.set_metadata({"step": 10})
    monkeypatch.setattr(trainable.tune, "get_checkpoint", lambda: checkpoint)
    with contextlib.ExitStack() as stack:
        path, step = trainable._resume_point(tmp_path / "trial", stack)
    assert step == 10 and (path / ".metadata.json").is_file()
