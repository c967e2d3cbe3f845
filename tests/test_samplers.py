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
    twin = next(  # an alias is measured under the first name with its scheduler and settings
        other for other in distinct
        if (get_sampler(other).scheduler_class, dict(get_sampler(other).settings))
        == (sampler.scheduler_class, dict(sampler.settings))
    )
    ratio = distinct[twin]["10"]
    assert ratio <= FID_RATIO_BOUND, f"{name} at 10 steps: FID {ratio:.2f}x dense DDIM @ 50 ({dense_fids})"
