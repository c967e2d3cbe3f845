"""MACs accounting: per-unit + fixed against an independent count, masks, experts, SD 2.1 numbers."""

from __future__ import annotations

import pytest
import torch

from alternas.backbones import adapter_for, build_backbone
from alternas.exceptions import BudgetError
from alternas.gating import GateController
from alternas.macs import count_macs, generation_macs, independent_macs, profile_costs

from .conftest import model_inputs, sd21_unet_config


def test_units_plus_fixed_match_an_independent_count(backbone):
    """FlopCounterMode per unit (dense run) + fixed (all-skipped run) vs thop hooks, within 1%."""
    adapter = adapter_for(backbone)
    units = adapter.discover_units()
    for convention, with_attention in (("macs", True), ("conv_linear", False)):
        costs = profile_costs(adapter, units, condition_length=3, convention=convention)
        independent = independent_macs(adapter, condition_length=3, include_attention=with_attention)
        assert all(m > 0 for m in costs.unit_macs)
        assert abs(costs.fixed_macs + sum(costs.unit_macs) - independent) <= 0.01 * independent
    assert 0 < costs.min_share < 1


def test_cpu_fused_attention_is_counted():
    """The conv_linear convention is strictly smaller: attention matmuls were seen on CPU."""
    adapter = adapter_for(build_backbone("UNet2DConditionModel", {**sd21_unet_config(), "sample_size": 8,
                                                                   "block_out_channels": [32, 64, 64, 64],
                                                                   "cross_attention_dim": 32,
                                                                   "attention_head_dim": [2, 2, 2, 2],
                                                                   "norm_num_groups": 8}))
    units = adapter.discover_units()
    full = profile_costs(adapter, units, condition_length=4, convention="macs")
    conv_linear = profile_costs(adapter, units, condition_length=4, convention="conv_linear")
    assert full.dense_macs > conv_linear.dense_macs * 1.001


def test_hard_masks_execute_exactly_the_planned_macs(backbone):
    """Measured MACs of a gated forward equal the cost profile's prediction, per sample."""
    adapter = adapter_for(backbone)
    units = adapter.discover_units()
    gates = GateController(backbone, units)
    costs = profile_costs(adapter, units, condition_length=3, gates=gates)
    sample, timesteps, condition = model_inputs(adapter)
    masks = (torch.rand(len(sample), len(units), generator=torch.Generator().manual_seed(0)) > 0.4).float()
    with gates.apply(masks, "hard"):
        measured, _ = count_macs(lambda: adapter.predict(sample, timesteps, condition))
    assert measured == pytest.approx(float(costs.macs(masks).sum()), rel=1e-9)
    with gates.apply(masks[1], "hard"):
        one, _ = count_macs(lambda: adapter.predict(sample[:1], timesteps[:1], {k: v[:1] for k, v in condition.items()}))
    assert one == pytest.approx(float(costs.macs(masks[1])), rel=1e-9)


def test_sd21_macs_reproduce_the_papers_table_2():
    """SD 2.1 UNet at 96x96 latents, 77 tokens, batch 1, built on the meta device (no weights)."""
    with torch.device("meta"):
        model = build_backbone("UNet2DConditionModel", sd21_unet_config())
    adapter = adapter_for(model)
    units = adapter.discover_units()
    conv_linear = profile_costs(adapter, units, condition_length=77, convention="conv_linear")
    full = profile_costs(adapter, units, condition_length=77, convention="macs")
    # Table 2: 38.04 T MACs for 50 steps = 760.8 G per step (conv + linear)
    assert conv_linear.dense_macs / 1e9 == pytest.approx(760.8, rel=1e-3)
    attention = full.dense_macs - conv_linear.dense_macs
    # Table 1's 1384.2 G counts the attention matmuls as FLOPs (x2): 760.5 + 2 x 314.1 = 1388.6
    assert (conv_linear.dense_macs + 2 * attention) / 1e9 == pytest.approx(1384.2, rel=5e-3)
    assert independent_macs(adapter, 77) == pytest.approx(full.dense_macs, rel=1e-6)
    assert len(full.unit_names) == 34


def test_budget_below_fixed_cost_is_rejected():
    adapter = adapter_for(build_backbone("DiTTransformer2DModel", {
        "num_layers": 2, "num_attention_heads": 2, "attention_head_dim": 8, "in_channels": 4,
        "out_channels": 8, "sample_size": 8, "patch_size": 2, "num_embeds_ada_norm": 10}))
    costs = profile_costs(adapter, adapter.discover_units())
    with pytest.raises(BudgetError, match=r"fixed cost alone is 0\.\d+ of dense") as error:
        costs.check_budget(costs.min_share * 0.9, where="space.budgets[0]")
    assert "`space.budgets[0]`" in str(error.value)
    costs.check_budget((costs.min_share + 1) / 2)
    with pytest.raises(BudgetError):
        costs.check_budget(1.2)


def test_generation_macs_sum_steps_and_double_with_guidance():
    assert generation_macs([1.0, 2.0, 3.0], guidance=False) == 6.0
    assert generation_macs([1.0, 2.0, 3.0], guidance=True) == 12.0


def test_cost_profile_round_trips_through_a_dict():
    adapter = adapter_for(build_backbone("UNet2DModel", {"sample_size": 8, "in_channels": 1, "out_channels": 1,
                                                          "block_out_channels": [8, 16], "norm_num_groups": 4,
                                                          "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
                                                          "up_block_types": ["AttnUpBlock2D", "UpBlock2D"]}))
    costs = profile_costs(adapter, adapter.discover_units())
    again = type(costs).from_dict(costs.to_dict())
    assert again == costs


def test_half_precision_backbones_profile_the_same_macs(backbone):
    """A bfloat16 backbone (a GPU export runs in half precision) is profiled with inputs of its own dtype."""
    adapter = adapter_for(backbone)
    units = adapter.discover_units()
    full = profile_costs(adapter, units, condition_length=3)
    half = profile_costs(adapter_for(backbone.to(torch.bfloat16)), units, condition_length=3)
    assert half.unit_macs == full.unit_macs
    assert half.fixed_macs == full.fixed_macs
