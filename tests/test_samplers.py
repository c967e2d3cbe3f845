"""Every sampler alternas offers samples well: registry, settings, and a FID bound on the shipped teacher."""

from __future__ import annotations

import pytest

from alternas.config import EvalConfig
from alternas.recipe import load_recipe, resolve_trial
from alternas.recipe.space import SAMPLER_PARAM
from alternas.samplers import SAMPLERS, Sampler, get_sampler, make_scheduler, register_sampler, sampler_timesteps
from alternas.search.searcher import optuna_space

from .conftest import SCHEDULE, tiny_recipe

#: the bound of the samplers issue: at 10 steps, no sampler worse than 1.5x dense DDIM at 50 steps
FID_RATIO_BOUND = 1.5


def test_the_settings_of_a_sampler_win_over_the_training_schedule():
    """diffusers drops config keys listed in `_use_default_values` when they come in the config dict:
    a sampler's settings are passed as keywords, so they hold whatever the training config says."""
    train = {**SCHEDULE, "timestep_spacing": "linspace", "_use_default_values": ["timestep_spacing"]}
    assert make_scheduler("dpmpp_2m", train).config.timestep_spacing == "leading"
    assert sampler_timesteps("dpmpp_2m", SCHEDULE, 5) == [830, 664, 498, 332, 166]
    assert sampler_timesteps("ddim_trailing", SCHEDULE, 5) == [999, 799, 599, 399, 199]
    assert 999 not in sampler_timesteps("unipc", SCHEDULE, 4) + sampler_timesteps("euler", SCHEDULE, 4)


def test_an_unknown_sampler_is_refused_with_the_names_and_a_new_one_registers_once():
    with pytest.raises(ValueError, match="unknown sampler `dpm`; choose one of ddim, ddim_trailing, dpmpp_2m"):
        EvalConfig(scheduler="dpm")
    with pytest.raises(KeyError, match="unknown sampler `dpm`"):
        get_sampler("dpm")
    toy = Sampler("toy_test_ddim", "DDIMScheduler", {"timestep_spacing": "trailing"}, "a test's sampler")
    try:
        register_sampler(toy)
        assert EvalConfig(scheduler="toy_test_ddim").scheduler == "toy_test_ddim"
        with pytest.raises(ValueError, match="already registered"):
            register_sampler(toy)
    finally:
        SAMPLERS.pop("toy_test_ddim", None)


def test_a_recipe_gives_a_sampler_settings_of_its_own_and_gets_a_name_that_reads_back(tmp_path):
    """``{name: unipc, timestep_spacing: trailing}`` anywhere a sampler is named becomes the name
    ``unipc{"timestep_spacing": "trailing"}``: the trial's config, the search dimension and the baseline
    all carry it, and it samples with the setting (trailing spacing starts at t = 999)."""
    trailing = {"name": "unipc", "timestep_spacing": "trailing"}
    data = tiny_recipe(tmp_path)
    data["eval"]["scheduler"] = trailing
    data["space"]["samplers"] = [trailing, "ddim"]
    data["report"] = {"baseline": {"steps": [2, 4], "samplers": ["unipc", {"name": "dpmpp_2m", "solver_order": 1}]}}
    recipe = load_recipe(data)
    name = 'unipc{"timestep_spacing": "trailing"}'
    assert recipe.eval.scheduler == name and recipe.space.samplers == [name, "ddim"]
    assert recipe.report.baseline.samplers == ["unipc", 'dpmpp_2m{"solver_order": 1}']
    assert optuna_space(recipe)[SAMPLER_PARAM].choices == (name, "ddim")
    trial = resolve_trial(recipe, {"experts": "static", "budget.macs_share": 0.6, "eval.steps": 4, SAMPLER_PARAM: name}, seed=0)
    assert EvalConfig.model_validate(trial.run.eval.model_dump()).scheduler == name
    assert sampler_timesteps(name, SCHEDULE, 4) == [999, 749, 499, 249]
    assert get_sampler(name).settings == {"timestep_spacing": "trailing"}
    assert make_scheduler('dpmpp_2m{"solver_order": 1}', SCHEDULE).config.solver_order == 1


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ({"name": "unipc", "solver_ordr": 3}, r"`unipc` \(UniPCMultistepScheduler\) has no setting 'solver_ordr'; its settings are .*solver_order"),
        ({"name": "unipc", "timestep_spacing": "sideways"}, "`unipc` cannot sample with .*sideways"),
        ({"solver_order": 3}, "needs a `name`"),
        ({"name": "unipcc", "solver_order": 3}, "unknown sampler `unipcc"),
    ],
)
def test_a_sampler_with_wrong_settings_is_refused_with_what_it_takes(choice, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig(scheduler=choice)


@pytest.fixture(scope="module")
def dense_fids():
    """The shipped digits teacher's FID at 10 steps under every distinct sampler, and DDIM at 50 steps,
    on 1000 samples (the `bench.samplers` measurement)."""
    from bench.samplers import bench_samplers

    return bench_samplers([10], samples=1000)


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in SAMPLERS if name != "ddpm"])
def test_every_sampler_is_within_the_bound_of_dense_ddim_at_50_steps(dense_fids, name):
    distinct = dense_fids["ratio"]
    sampler = get_sampler(name)
    twin = next(other for other in distinct if get_sampler(other).signature == sampler.signature)  # an alias
    ratio = distinct[twin]["10"]
    assert ratio <= FID_RATIO_BOUND, f"{name} at 10 steps: FID {ratio:.2f}x dense DDIM @ 50 ({dense_fids})"


def test_one_plan_serves_each_step_of_any_sampler_with_the_expert_of_its_timestep():
    """Routing is defined on training timesteps: the same experts and table, sampled with two samplers,
    run at every step exactly the expert the table gives that step's timestep."""
    import torch

    from alternas.evaluation.sampling import denoise
    from alternas.routing import ExpertRouter, RoutingTable, manual_assignment

    keep = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    table = RoutingTable(manual_assignment(3, 1000), 3)
    router = ExpertRouter(keep, table)
    visited = {}
    for name in ("ddim", "unipc"):
        served = []

        def predict(sample, timestep, condition):
            served.append((int(timestep), router.masks_for(timestep)))
            return torch.zeros_like(sample)

        denoise(predict, make_scheduler(name, SCHEDULE), torch.randn(1, 1, 4, 4), {}, None, 1.0, 6)
        assert [t for t, _ in served] == sampler_timesteps(name, SCHEDULE, 6)
        for timestep, mask in served:
            assert torch.equal(mask, keep[int(table.lookup(timestep))])
        visited[name] = [t for t, _ in served]
    assert visited["ddim"] != visited["unipc"]  # the samplers visit other timesteps, routed all the same
