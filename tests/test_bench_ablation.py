"""The ablation benchmark's bookkeeping: fair cells, and finished cells kept across a rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alternas.config import RunConfig
from bench.ablation import METHODS, ablation_config, run_cells


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_gets_the_same_backbone_updates_budget_and_evaluation(method: str) -> None:
    config = RunConfig.model_validate(ablation_config(method, 3, 0.5, 300, 300))
    reference = RunConfig.model_validate(ablation_config("static", 3, 0.5, 300, 300))
    # TwoStage's first `hypernet_steps` iterations do not update the backbone, so it trains that much longer
    frozen = config.train.hypernet_steps if config.train.schedule == "two_stage" else 0
    assert config.train.steps - frozen == reference.train.steps == 300
    assert config.budget.macs_share == 0.5
    assert config.eval == reference.eval
    assert config.train.seed == 3


def test_the_warm_started_alter_grows_its_experts_halfway_through_the_hypernetwork() -> None:
    config = RunConfig.model_validate(ablation_config("alter_warm", 0, 0.5, 300, 300))
    assert config.train.hypernet_steps == 200
    assert config.hypernet.warm_start_steps == 100
    assert RunConfig.model_validate(ablation_config("alter", 0, 0.5, 300, 300)).hypernet.warm_start_steps == 0


def test_a_finished_cell_is_reused_only_while_its_config_is_unchanged(tmp_path: Path) -> None:
    config = ablation_config("static", 0, 0.5, 300, 300)
    (tmp_path / "cells").mkdir()
    saved = {"fid": 12.5, "macs_share": 0.5}
    (tmp_path / "cells" / "static-seed0.json").write_text(json.dumps({"config": config, "metrics": saved}))
    # reused: nothing is trained (no run folder appears)
    assert run_cells({"static-seed0": config}, tmp_path) == {"static-seed0": saved}
    assert not (tmp_path / "static-seed0").exists()
    # a changed config is trained again (here it cannot be: 0 iterations is invalid, so the attempt fails)
    changed = {**config, "train": {**config["train"], "steps": 0}}
    with pytest.raises(Exception, match="steps"):
        run_cells({"static-seed0": changed}, tmp_path)
