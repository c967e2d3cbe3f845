"""A finished search for the tools around it: the Optuna study file that ``optuna-dashboard`` opens,
and TensorBoard event files from ``search.tracking``."""

from __future__ import annotations

import math
import struct

import optuna
import pytest

from alternas.rundir import SearchRunDir
from alternas.search import search
from alternas.search.study_file import load_study_file

from .test_recipe import tiny_recipe
from .conftest import RayProcesses


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory):
    """A 2-trial search with TensorBoard tracking on."""
    import os

    data = tiny_recipe(tmp_path_factory.mktemp("tooling"))
    data["search"].update(num_trials=2, tracking=["tensorboard"], seed=5)
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
        assert trial.values == pytest.approx([record.metrics.fid, record.metrics.generation_macs])
        assert trial.params["experts"] in ("static", "2 learned", "2 manual", "3 learned", "3 manual")
        constraint = trial.constraints["generation_macs_over_budget"]
        assert math.isclose(constraint, record.metrics.budget_constraint) and (constraint <= 0) == record.feasible


def _scalar_tags(event_file) -> set[str]:
    """Tags of the scalars in a TensorBoard event file (TFRecord framing: length, CRC, event, CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    data, tags, offset = event_file.read_bytes(), set(), 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        event = Event.FromString(data[offset + 12 : offset + 12 + length])
        tags |= {value.tag for value in event.summary.value}
        offset += 12 + length + 4
    return tags


@pytest.mark.slow
def test_tensorboard_tracking_writes_event_files_per_trial(finished_search):
    layout = SearchRunDir(finished_search.run_dir)
    event_files = sorted(layout.ray_dir.glob("*/events.out.tfevents.*"))
    assert len({path.parent for path in event_files}) == 2
    for path in event_files:
        assert {"ray/tune/fid", "ray/tune/generation_macs", "ray/tune/step"} <= _scalar_tags(path)
