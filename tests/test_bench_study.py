"""The side-study benchmark: settings parsed as YAML, paired cells on validation noise, the fixed rule."""

from __future__ import annotations

import pydantic
import pytest

from alternas.config import RunConfig
from bench.ablation import ablation_config
from bench.study import VALIDATION_SEED, parse_setting, parse_settings, study_cells, verdict


def test_a_setting_is_section_field_and_a_yaml_value() -> None:
    assert parse_setting("train.lr_decay=cosine") == ("train", "lr_decay", "cosine")
    assert parse_setting("train.hypernet_steps=150") == ("train", "hypernet_steps", 150)
    assert parse_setting("train.lr=2.0e-3") == ("train", "lr", 0.002)
    for text in ("train.lr_decay", "lr_decay=cosine", "train.=1", "train.a.b=1", ".lr=1"):
        with pytest.raises(ValueError, match="SECTION.FIELD=VALUE"):
            parse_setting(text)
    with pytest.raises(ValueError, match="not YAML"):
        parse_setting("train.lr=[1")
    assert parse_settings(["train.lr=2.0e-3", "loss.feature_kd=3"]) == {("train", "lr"): 0.002, ("loss", "feature_kd"): 3}
    assert parse_settings([]) == {}


def test_each_pair_differs_only_by_the_setting_and_is_scored_on_validation_noise() -> None:
    cells = study_cells({("train", "hypernet_steps"): 150}, ["static", "alter"], [0, 2], 300, 300)
    assert sorted(cells) == sorted(
        f"{kind}-{method}-seed{seed}" for kind in ("base", "changed") for method in ("static", "alter") for seed in (0, 2)
    )
    # the ablation's cell, but not the evaluation noise of the reported results
    reported = ablation_config("alter", 2, 0.5, 300, 300)
    assert RunConfig.model_validate(reported).eval.seed == 1234 != VALIDATION_SEED
    assert RunConfig.model_validate(cells["base-alter-seed2"]).eval.seed == VALIDATION_SEED
    base, changed = cells["base-alter-seed2"], cells["changed-alter-seed2"]
    assert changed["train"].pop("hypernet_steps") == 150 and base["train"].pop("hypernet_steps") == 200
    assert changed == base
    base["eval"].pop("seed"), reported["train"].pop("hypernet_steps")
    assert base == reported


def test_base_settings_apply_to_both_sides_and_the_change_wins_over_them() -> None:
    base_settings = {("train", "lr"): 2e-3, ("loss", "feature_kd"): 0.5}
    cells = study_cells({("loss", "feature_kd"): 3.0}, ["alter"], [1], 300, 300, base_settings=base_settings)
    base, changed = cells["base-alter-seed1"], cells["changed-alter-seed1"]
    assert base["train"]["lr"] == changed["train"]["lr"] == 2e-3
    assert (base["loss"]["feature_kd"], changed["loss"]["feature_kd"]) == (0.5, 3.0)
    plain = study_cells({("loss", "feature_kd"): 3.0}, ["alter"], [1], 300, 300)["base-alter-seed1"]
    assert plain["train"].pop("lr") == 1e-3 and "loss" not in plain
    base["train"].pop("lr"), base.pop("loss")
    assert base == plain


def test_a_setting_the_run_config_does_not_have_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="lr_decya"):
        study_cells({("train", "lr_decya"): "cosine"}, ["static"], [0], 300, 300)


def test_the_change_is_adopted_only_with_a_lower_mean_and_two_thirds_of_the_pairs() -> None:
    # the hypernetwork's shorter phase, as measured (base, changed): lower on 3 of 6, mean higher
    half = [(12.39, 12.20), (15.21, 23.64), (17.30, 13.85), (19.22, 23.17), (16.28, 13.71), (12.17, 15.86)]
    result = verdict(half)
    assert result["changed_wins"] == 3 and not result["adopt"]
    assert result["difference_mean"] == pytest.approx(9.86 / 6)  # of the rounded FIDs above
    # 4 of 6 wins and a lower mean: adopted; the same wins with a higher mean: not
    assert verdict([(10, 9), (10, 9), (10, 9), (10, 9), (10, 11), (10, 11)])["adopt"]
    assert not verdict([(10, 9), (10, 9), (10, 9), (10, 9), (10, 11), (10, 19)])["adopt"]
    # a lower mean carried by one pair is not enough
    assert not verdict([(30, 10), (10, 11), (10, 11)])["adopt"]
