"""`search --resume` on a finished search whose files are damaged one at a time: each file of a trial
folder and each of Ray Tune's state files, truncated, emptied, garbled, replaced by a valid file of
another type, given a field of the wrong type, or deleted.
Every resume exits 0 or 2 without a traceback, never reports an interruption, and no finished trial runs
again (no new trial folder, every other metrics.json untouched).

One tiny 2-trial search is run once; every case resumes a fresh copy of it, in this process, on one
Ray this module initializes (a search uses the Ray its process already initialized and leaves it
running), instead of each starting Ray, so the sweep fits the suite's time.
"""

from __future__ import annotations

import glob
import json
import logging
import pickle
import shutil
from pathlib import Path

import pytest
import ray
import yaml

from alternas.rundir import SearchRunDir
from alternas.search import search

from .conftest import cli_output, tiny_recipe

pytestmark = pytest.mark.slow

#: the trial whose files are damaged is the first one; the other must stay untouched
TRIAL_FILES = ["trial.json", "config.yaml", "plan.yaml", "metrics.json", "history.json", "backbone/config.json"]
#: Tune's state files, by name pattern under ``ray/``
TUNE_FILES = ["tuner.pkl", "experiment_state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl"]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for index in range(len(data) // 3, len(data), 7):
        data[index] ^= 0x5A
    path.write_bytes(bytes(data))


def _other_type(path: Path) -> None:
    """A valid file of the same format holding a list: a pickle where the file was a pickle (Tune's
    search states), JSON/YAML text otherwise."""
    path.write_bytes(pickle.dumps([1, 2, 3]) if path.read_bytes()[:1] == b"\x80" else b"[1, 2, 3]\n")


def _wrong_field(path: Path) -> None:
    """A JSON/YAML mapping with its first field's value replaced by a list (other files: unchanged)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (UnicodeDecodeError, yaml.YAMLError):
        return
    if isinstance(data, dict) and data:
        data[next(iter(data))] = [1, 2]
        path.write_text(json.dumps(data) if path.suffix == ".json" else yaml.safe_dump(data))


def _delete(path: Path) -> None:
    path.unlink()


DAMAGES = {
    "truncated": _truncate,
    "empty": _empty,
    "garbled": _garble,
    "other_type": _other_type,
    "wrong_field": _wrong_field,
    "deleted": _delete,
}


@pytest.fixture(scope="module")
def ray_session():
    """Ray, initialized once for the module's searches (and shut down after them)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def finished_search(ray_session, tmp_path_factory):
    """A finished 2-trial search: its run dir, a pristine copy of it, and its recipe file."""
    root = tmp_path_factory.mktemp("sweep")
    data = tiny_recipe(root)
    data["search"].update(num_trials=2, max_concurrent_trials=2, cpus_per_trial=1)
    recipe_file = root / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(data))
    result = search(recipe_file)
    assert [r.status for r in result.records] == ["finished", "finished"]
    assert result.state.cluster == "current" and ray.is_initialized()
    run = Path(data["output_dir"])
    pristine = root / "pristine"
    shutil.copytree(run, pristine)
    return run, pristine, recipe_file


def _cases() -> list:
    cases = [(f"trials/*/{name}", damage) for name in TRIAL_FILES for damage in DAMAGES]
    cases += [(f"ray/{name}", damage) for name in TUNE_FILES for damage in DAMAGES]
    return [pytest.param(relative, damage, id=f"{relative}:{damage}") for relative, damage in cases]


def _snapshot(layout: SearchRunDir) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(layout.trials_dir.glob("*/metrics.json"))}


@pytest.mark.parametrize(("relative", "damage"), _cases())
def test_resume_on_a_damaged_finished_search(finished_search, tmp_path, capsys, relative, damage):
    run, pristine, recipe_file = finished_search
    shutil.rmtree(run)  # the run dir at its own path, so the recipe (and its hash) still match
    shutil.copytree(pristine, run)
    layout = SearchRunDir(run)
    target = Path(sorted(glob.glob(str(run / relative)))[-1 if relative.startswith("ray/") else 0])
    before = _snapshot(layout)
    trials_before = sorted(p.name for p in layout.trials_dir.iterdir())

    DAMAGES[damage](target)
    code, output = cli_output(capsys, "search", str(recipe_file), "--resume", "--no-report")
    assert code in (0, 2), output
    assert "Traceback" not in output and (code == 0 or "error:" in output), output
    assert sorted(p.name for p in layout.trials_dir.iterdir()) == trials_before  # no trial re-run anew
    after = _snapshot(layout)
    for trial, metrics in before.items():  # no finished trial trained or evaluated again
        if (layout.trials_dir / trial / "metrics.json") != target:
            assert after.get(trial) == metrics, trial
    assert "interrupted" not in output, output
