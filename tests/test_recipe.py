"""Recipes: loading, search-space resolution, trial configs, and the shipped recipes validated offline."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from diffusers import DiTTransformer2DModel

from alternas.backbones import load_backbone
from alternas.exceptions import BudgetError, ConfigError
from alternas.recipe import inspect_recipe, load_recipe, resolve_trial, search_params
from alternas.search.searcher import optuna_space

from .conftest import tiny_dit, tiny_recipe, tiny_unet_condition

ROOT = Path(__file__).resolve().parents[1]


def test_layouts_pair_one_expert_with_static_and_more_with_learned_or_manual(tmp_path):
    recipe = load_recipe(tiny_recipe(tmp_path))
    labels = [layout.label for layout in recipe.space.experts.layouts()]
    assert labels == ["static", "2 learned", "2 manual", "3 learned", "3 manual"]
    assert recipe.grid_size() == 5 * 2
    assert search_params(recipe) == ["experts", "budget.macs_share", "eval.steps"]


def test_a_trial_config_carries_the_sampled_values_and_the_seed(tmp_path):
    data = tiny_recipe(tmp_path)
    data["space"]["experts"] = {"counts": [3], "partitions": ["manual"], "boundaries": {3: [200, 600]}}
    data["space"]["ranges"] = {"train.hypernet_lr": {"low": 1e-3, "high": 1e-2, "log": True},
                               "train.batch_size": [8, 16]}
    recipe = load_recipe(data)
    trial = resolve_trial(recipe, {"experts": "3 manual", "budget.macs_share": 0.6, "eval.steps": 4,
                                   "train.hypernet_lr": 2e-3, "train.batch_size": 16.0}, seed=7)
    assert trial.run.experts.boundaries == [200, 600] and trial.run.experts.routing == "manual"
    assert trial.run.budget.macs_share == 0.6 and trial.run.eval.steps == 4
    assert trial.run.train.seed == 7 and trial.run.train.threads == 1
    assert trial.run.train.batch_size == 16 and isinstance(trial.params["train.batch_size"], int)
    assert trial.params == {"experts.count": 3, "experts.routing": "manual", "experts.boundaries": [200, 600],
                            "budget.macs_share": 0.6, "eval.steps": 4, "train.hypernet_lr": 2e-3,
                            "train.batch_size": 16}
    space = optuna_space(recipe)
    assert space["train.hypernet_lr"].log and space["train.batch_size"].choices == (8, 16)


def test_a_generation_budget_spreads_over_the_step_count(tmp_path):
    """The paper's 25.9% of total MACs: 20 steps at 0.65 against 50 dense steps."""
    data = tiny_recipe(tmp_path)
    data["space"]["budget"] = {"generation_share": [0.26], "reference_steps": 50}
    data["space"]["steps"] = [20, 10]
    recipe = load_recipe(data)
    at_20 = resolve_trial(recipe, {"experts": "2 learned", "budget.generation_share": 0.26, "eval.steps": 20}, 0)
    at_10 = resolve_trial(recipe, {"experts": "2 learned", "budget.generation_share": 0.26, "eval.steps": 10}, 0)
    assert at_20.run.budget.macs_share == pytest.approx(0.65) and at_20.budget_share == pytest.approx(0.65)
    assert at_10.run.budget.macs_share == 1.0 and at_10.budget_share == pytest.approx(1.3)
    assert at_20.params["budget.generation_share"] == 0.26


def test_a_space_file_is_included_and_paths_resolve_next_to_the_recipe(tmp_path, monkeypatch):
    (tmp_path / "spaces").mkdir()
    data = tiny_recipe(tmp_path)
    (tmp_path / "spaces" / "s.yaml").write_text(yaml.safe_dump(data.pop("space")))
    (tmp_path / "recipes").mkdir()
    (tmp_path / "prompts.txt").write_text("a cat\n")
    data["space"] = "../spaces/s.yaml"
    data["eval"]["prompts_file"] = "../prompts.txt"
    data.pop("output_dir")
    path = tmp_path / "recipes" / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(path)
    assert recipe.eval.prompts_file == str(tmp_path / "prompts.txt")
    assert recipe.output_dir == str(tmp_path / "reports" / "tiny")
    assert len(recipe.space.experts.layouts()) == 5


def test_budget_below_the_fixed_cost_is_rejected_with_the_field(tmp_path):
    data = tiny_recipe(tmp_path)
    data["space"]["units"] = {"kinds": ["transformer"]}
    recipe = load_recipe(data)
    with pytest.raises(BudgetError, match=r"space\.budget\.macs_share.*fixed cost alone is 0\.6"):
        inspect_recipe(recipe)


@pytest.mark.parametrize(
    ("recipe_file", "units", "kinds"),
    [
        ("recipes/sd21-alter.yaml", 34, {"transformer": 16, "resnet": 18}),
        ("recipes/dit-xl2.yaml", 28, {"dit_block": 28}),
        ("recipes/quickstart.yaml", 16, {"transformer": 6, "resnet": 10}),
    ],
)
def test_shipped_recipes_validate_offline(recipe_file, units, kinds):
    recipe = load_recipe(ROOT / recipe_file)
    inspection = inspect_recipe(recipe, recipe_file)
    assert len(inspection.candidates) == units
    assert Counter(unit.kind for unit in inspection.candidates) == kinds
    assert inspection.costs.dense_macs > inspection.costs.fixed_macs > 0


def test_shipped_quickstart_covers_budgets_and_partitions():
    """Its initial points alone try every partition, every total-MACs budget, every step count and every
    sampler, and its baseline ladder covers every searched step count and every dense-step budget."""
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml")
    first = [resolve_trial(recipe, point, seed=0).params for point in recipe.search.initial_points]
    assert {p["experts.count"] for p in first} == {1, 2, 3}
    assert {p["experts.routing"] for p in first} == {"learned", "manual", "static"}
    assert {p["budget.generation_share"] for p in first} == {0.15, 0.2, 0.25}  # 3, 4, 5 dense steps of 20
    assert {p["eval.steps"] for p in first} == {4, 5, 6}
    assert {p["eval.scheduler"] for p in first} == set(recipe.space.samplers) == {"unipc", "dpmpp_2m"}
    assert recipe.report.baseline.ladder(recipe.default_steps()) == [3, 4, 5, 6, 7, 8, 10]
    assert recipe.planned_trials() >= 6


def test_sd21_recipe_is_the_papers_set_up():
    recipe = load_recipe(ROOT / "recipes/sd21-alter.yaml")
    assert recipe.model.backbone == "stabilityai/stable-diffusion-2-1"
    assert [layout.label for layout in recipe.space.experts.layouts()] == ["10 learned"]
    assert recipe.space.budget.macs_share.choices == [0.65]
    assert (recipe.train.lr, recipe.train.hypernet_lr, recipe.loss.ratio, recipe.loss.balance) == (1e-5, 5e-5, 5, 1)
    assert (recipe.train.steps, recipe.train.hypernet_steps, recipe.train.batch_size) == (32000, 9400, 64)
    assert recipe.data.resolution == 768 and recipe.train.precision == "fp16"


def test_unknown_searched_field_suggests_the_right_one(tmp_path):
    data = tiny_recipe(tmp_path)
    data["space"]["ranges"] = {"train.hypernet_rl": [1e-3]}
    with pytest.raises(ConfigError, match=r"`space\.ranges\.train\.hypernet_rl`.*did you mean `train\.hypernet_lr`"):
        load_recipe(data)


def test_a_dit_folder_saved_by_older_diffusers_loads_and_validates(tmp_path):
    """The Hub's facebook/DiT-XL-2-256 names its transformer `Transformer2DModel` (norm ada_norm_zero)."""
    tiny_dit().save_pretrained(tmp_path / "dit" / "transformer")
    config_file = tmp_path / "dit" / "transformer" / "config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "_class_name": "Transformer2DModel", "norm_type": "ada_norm_zero"}))
    assert type(load_backbone(str(tmp_path / "dit"))) is DiTTransformer2DModel

    recipe = load_recipe(tiny_recipe(tmp_path, model={"backbone": str(tmp_path / "dit")}))
    assert len(inspect_recipe(recipe, "<recipe>").candidates) == 4


def test_validate_reads_the_latent_size_from_the_pipeline_vae(tmp_path):
    """A 2-level VAE downsamples 2x: 16 px images are 8x8 latents (not the SD default of 8x)."""
    tiny_unet_condition(in_channels=4, out_channels=4).save_pretrained(tmp_path / "pipe" / "unet")
    (tmp_path / "pipe" / "vae").mkdir()
    (tmp_path / "pipe" / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [8, 16]}))
    recipe = load_recipe(tiny_recipe(tmp_path, model={"backbone": str(tmp_path / "pipe")},
                                     data={"source": str(tmp_path), "resolution": 16}))
    assert tuple(inspect_recipe(recipe, "<recipe>").architecture.sample_shape) == (4, 8, 8)
