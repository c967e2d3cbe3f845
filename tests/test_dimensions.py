"""Search dimensions: one registered in this file alone reaches the space, validation, the live display,
the trials of a search through Ray, and the report."""

from __future__ import annotations

import io
import json
import os

import pytest
import yaml
from rich.console import Console

from alternas.exceptions import ConfigError
from alternas.recipe import DIMENSIONS, SearchDimension, TrialDraft, load_recipe, register_dimension, resolve_trial
from alternas.recipe import search_params
from alternas.report import REPORT_FILES, write_report
from alternas.rundir import SearchRunDir
from alternas.search import search
from alternas.search.progress import SearchDisplay
from alternas.search.searcher import SEED_KEY, make_searcher, optuna_space

from .conftest import RayProcesses, cli_output, tiny_recipe


class LrDecayDimension(SearchDimension):
    """A toy categorical dimension: the backbone's learning-rate decay after warm-up (``train.lr_decay``,
    ``constant`` unless searched), searched over two schedules a recipe cannot search through ranges."""

    def __init__(self) -> None:
        super().__init__("train.lr_decay", "space (tests/test_dimensions.py)")

    @classmethod
    def from_recipe(cls, recipe) -> list[SearchDimension]:
        return [cls()]

    def choices(self) -> list[str]:
        return ["cosine", "linear"]

    def apply(self, value: str, trial: TrialDraft) -> None:
        trial.run["train"]["lr_decay"] = trial.params[self.name] = str(value)

    def meaning(self) -> str:
        return "toy lr decay"


@pytest.fixture
def lr_decay():
    """:class:`LrDecayDimension`, registered for the test only."""
    register_dimension(LrDecayDimension)
    try:
        yield LrDecayDimension
    finally:
        DIMENSIONS.remove(LrDecayDimension)


def test_a_registered_dimension_joins_the_space_the_trials_validation_and_the_display(tmp_path, capsys, monkeypatch,
                                                                                      lr_decay):
    data = tiny_recipe(tmp_path)
    recipe = load_recipe(data)
    assert search_params(recipe) == ["experts", "budget.macs_share", "eval.steps", "train.lr_decay"]
    assert optuna_space(recipe)["train.lr_decay"].choices == ("cosine", "linear")
    assert recipe.grid_size() == 5 * 2 * 2
    point = {"experts": "2 learned", "budget.macs_share": 0.6, "eval.steps": 4, "train.lr_decay": "linear"}
    trial = resolve_trial(recipe, point, seed=3)
    assert trial.run.train.lr_decay == "linear" and trial.params["train.lr_decay"] == "linear"
    assert trial.params["experts.count"] == 2 and trial.run.train.seed == 3
    with pytest.raises(ValueError, match="`LrDecayDimension` is already registered"):
        register_dimension(lr_decay)

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("COLUMNS", "200")
    code, output = cli_output(capsys, "validate", str(path))
    assert code == 0 and "│ train.lr_decay │ cosine, linear │ toy lr decay │" in output

    data["search"]["initial_points"] = [{**point, "train.lr_decay": "step"}]
    with pytest.raises(ConfigError, match=r"`search.initial_points\[0\].train.lr_decay`: 'step' is not in"):
        load_recipe(data)
    data["search"]["initial_points"] = [point]
    assert make_searcher(load_recipe(data)).suggest("first") == {**point, SEED_KEY: 0}

    plain = Console(file=io.StringIO(), width=200)
    with SearchDisplay(recipe, SearchRunDir(recipe.output_dir), plain) as display:
        display.trial_started("aaaa", {**point, SEED_KEY: 0})
    assert "trial aaaa started: 2 learned, macs_share=0.6, 4 steps, lr_decay=linear" in plain.file.getvalue()


@pytest.mark.slow
def test_a_search_with_a_registered_dimension_trains_it_and_reports_it(tmp_path, lr_decay):
    """The dimension is registered in this process only: the search hands it to its Ray worker, whose
    trial trains with the sampled value, and the report lists it with the trial."""
    data = tiny_recipe(tmp_path)
    data["search"].update(num_trials=1, max_concurrent_trials=1)
    data["report"] = {"baseline": {"steps": []}}
    with RayProcesses(os.getpid()) as ray_processes:
        result = search(data)
    ray_processes.assert_all_gone()

    [record] = result.records
    assert record.status == "finished", record.error
    decay = record.params["train.lr_decay"]
    assert decay in ("cosine", "linear")
    layout = SearchRunDir(result.run_dir)
    assert yaml.safe_load((layout.trial_dir(record.trial_id) / "config.yaml").read_text())["train"]["lr_decay"] == decay

    report = write_report(result.run_dir)
    assert report.entry(record.trial_id).params["train.lr_decay"] == decay
    frontier = json.loads((layout.root / REPORT_FILES["frontier"]).read_text())
    assert frontier["trials"][0]["params"]["train.lr_decay"] == decay
    assert f"train.lr\\_decay={decay}" in (layout.root / REPORT_FILES["markdown"]).read_text()  # Markdown-escaped
