"""Unit discovery and exact gating on every supported backbone kind."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from alternas.backbones import adapter_for, build_backbone
from alternas.exceptions import BackboneError
from alternas.gating import GateController
from alternas.units import select_units

from .conftest import model_inputs, sd21_unet_config, tiny_unet_condition

def test_sd21_has_the_papers_34_units():
    with torch.device("meta"):
        model = build_backbone("UNet2DConditionModel", sd21_unet_config())
    units = adapter_for(model).discover_units()
    assert Counter(u.kind for u in units) == {"transformer": 16, "resnet": 18}
    resnets = [u.name for u in units if u.kind == "resnet"]
    assert sum(n.startswith("down_blocks") for n in resnets) == 6
    assert sum(n.startswith("mid_block") for n in resnets) == 2
    assert sum(n.startswith("up_blocks") for n in resnets) == 10
    # the first resnet of a stage that changes width cannot become an identity
    assert "down_blocks.1.resnets.0" not in resnets and "up_blocks.2.resnets.0" not in resnets


def test_dit_xl2_has_28_block_units():
    with torch.device("meta"):
        model = build_backbone(
            "DiTTransformer2DModel",
            {"num_layers": 28, "num_attention_heads": 16, "attention_head_dim": 72, "in_channels": 4,
             "out_channels": 8, "sample_size": 32, "patch_size": 2, "num_embeds_ada_norm": 1000},
        )
    units = adapter_for(model).discover_units()
    assert len(units) == 28 and {u.kind for u in units} == {"dit_block"}


def test_every_unit_hard_skip_equals_soft_zero_and_keep_equals_dense(backbone):
    adapter = adapter_for(backbone)
    units = adapter.discover_units()
    assert len(units) >= 4
    gates = GateController(backbone, units)
    sample, timesteps, condition = model_inputs(adapter)
    with torch.no_grad():
        dense = adapter.predict(sample, timesteps, condition)
        with gates.apply(torch.ones(len(units)), "hard"):
            assert torch.equal(adapter.predict(sample, timesteps, condition), dense)
        for index, unit in enumerate(units):
            mask = torch.ones(len(sample), len(units))
            mask[:, index] = 0
            with gates.apply(mask, "hard"):
                hard = adapter.predict(sample, timesteps, condition)
            with gates.apply(mask, "soft"):
                soft = adapter.predict(sample, timesteps, condition)
            assert (hard - soft).abs().max() <= 1e-5, unit.name
            assert (hard - dense).abs().max() > 1e-6, f"skipping {unit.name} changed nothing"


def test_gather_scatter_equals_per_sample_execution(backbone):
    adapter = adapter_for(backbone)
    units = adapter.discover_units()
    gates = GateController(backbone, units)
    sample, timesteps, condition = model_inputs(adapter)
    masks = (torch.rand(len(sample), len(units), generator=torch.Generator().manual_seed(3)) > 0.5).float()
    masks[0] = 1  # one sample keeps everything, so every unit runs on a strict subset or all rows
    with torch.no_grad():
        with gates.apply(masks, "hard"):
            batched = adapter.predict(sample, timesteps, condition)
        with gates.apply(masks, "soft"):
            soft = adapter.predict(sample, timesteps, condition)
        rows = []
        for b in range(len(sample)):
            with gates.apply(masks[b], "hard"):
                rows.append(
                    adapter.predict(sample[b : b + 1], timesteps[b : b + 1], {k: v[b : b + 1] for k, v in condition.items()})
                )
    assert (batched - torch.cat(rows)).abs().max() <= 1e-5
    assert (batched - soft).abs().max() <= 1e-5


def test_skipped_up_resnet_still_consumes_its_skip_tensor():
    """Independent reference: replace the resnet by 'take the hidden channels' and run the block."""
    model = tiny_unet_condition()
    adapter = adapter_for(model)
    units = adapter.discover_units()
    name = "up_blocks.1.resnets.1"
    index = [u.name for u in units].index(name)
    gates = GateController(model, units)
    sample, timesteps, condition = model_inputs(adapter)
    mask = torch.ones(len(units))
    mask[index] = 0
    with torch.no_grad(), gates.apply(mask, "hard"):
        gated = adapter.predict(sample, timesteps, condition)
    gates.remove()
    resnet = dict(model.named_modules())[name]
    hidden = units[index].identity_channels
    resnet.forward = lambda input_tensor, temb, *a, **k: input_tensor[:, :hidden]
    with torch.no_grad():
        reference = adapter.predict(sample, timesteps, condition)
    assert hidden == 16 and torch.equal(gated, reference)


def test_soft_masks_carry_gradient_to_every_unit():
    model = tiny_unet_condition().requires_grad_(False)
    adapter = adapter_for(model)
    units = adapter.discover_units()
    gates = GateController(model, units)
    sample, timesteps, condition = model_inputs(adapter)
    masks = torch.full((len(sample), len(units)), 0.7, requires_grad=True)
    with gates.apply(masks, "soft"):
        adapter.predict(sample, timesteps, condition).square().mean().backward()
    assert (masks.grad.abs().sum(0) > 0).all()


def test_remove_restores_the_original_forward():
    model = tiny_unet_condition()
    adapter = adapter_for(model)
    units = adapter.discover_units()
    gates = GateController(model, units)
    with pytest.raises(RuntimeError, match="already gated"):
        GateController(model, units)
    gates.remove()
    assert all("forward" not in dict(model.named_modules())[u.name].__dict__ for u in units)
    GateController(model, units).remove()


def test_bad_mask_shape_is_rejected():
    model = tiny_unet_condition()
    adapter = adapter_for(model)
    gates = GateController(model, adapter.discover_units())
    with pytest.raises(ValueError, match="N_L=16"):
        with gates.apply(torch.ones(3)):
            pass


def test_select_units_by_glob_and_kind():
    units = adapter_for(tiny_unet_condition()).discover_units()
    transformers = select_units(units, kinds=["transformer"])
    assert {u.kind for u in transformers} == {"transformer"} and len(transformers) == 6
    up_only = select_units(units, include=["up_blocks.*"], exclude=["*.attentions.*"])
    assert [u.name for u in up_only] == [
        "up_blocks.0.resnets.0", "up_blocks.0.resnets.1", "up_blocks.0.resnets.2",
        "up_blocks.1.resnets.1", "up_blocks.1.resnets.2",
    ]
    with pytest.raises(BackboneError, match="no prunable unit matches"):
        select_units(units, include=["nothing.*"])
    with pytest.raises(BackboneError, match="unknown unit kind"):
        select_units(units, kinds=["conv"])
