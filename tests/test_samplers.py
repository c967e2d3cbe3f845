"""Every sampler alternas offers samples well: registry, settings, and a FID bound on the shipped teacher."""

from __future__ import annotations

import pytest

from alternas.config import EvalConfig
from alternas.samplers import SAMPLERS, Sampler, get_sampler, make_scheduler, register_sampler, sampler_timesteps

from .conftest import SCHEDULE

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
