"""Adapters for diffusers UNets: ``UNet2DConditionModel`` (SD 1.x/2.x/XL style) and ``UNet2DModel``."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UNet2DConditionModel, UNet2DModel
from diffusers.models.attention_processor import Attention
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn

from ..units import UnitSpec
from .base import BackboneAdapter

__all__ = ["UNetConditionAdapter", "UNetAdapter"]


class _UNetAdapterBase(BackboneAdapter):
    """Unit discovery and feature blocks shared by both UNet families."""

    def discover_units(self) -> list[UnitSpec]:
        model = self.model
        units: list[UnitSpec] = []
        for i, block in enumerate(model.down_blocks):
            units += _block_units(f"down_blocks.{i}", block, hidden_channels=None)
        if model.mid_block is not None:
            units += _block_units("mid_block", model.mid_block, hidden_channels=None)
            previous_channels = model.mid_block.resnets[-1].out_channels
        else:
            previous_channels = model.down_blocks[-1].resnets[-1].out_channels
        for i, block in enumerate(model.up_blocks):
            units += _block_units(f"up_blocks.{i}", block, hidden_channels=previous_channels)
            previous_channels = block.resnets[-1].out_channels
        return units

    def time_projection(self) -> nn.Module:
        return self.model.time_proj

    def feature_module_names(self) -> list[str]:
        names = [f"down_blocks.{i}" for i in range(len(self.model.down_blocks))]
        if self.model.mid_block is not None:
            names.append("mid_block")
        return names + [f"up_blocks.{i}" for i in range(len(self.model.up_blocks))]


class UNetConditionAdapter(_UNetAdapterBase):
    """``UNet2DConditionModel``: conditioned through cross-attention on ``encoder_hidden_states``."""

    model_classes = (UNet2DConditionModel,)

    def example_condition(self, batch_size: int, condition_length: int) -> dict[str, Any]:
        parameter = next(self.model.parameters())
        width = self.model.config.cross_attention_dim
        shape = (batch_size, condition_length, width)
        return {"encoder_hidden_states": torch.zeros(shape, device=parameter.device, dtype=parameter.dtype)}


class UNetAdapter(_UNetAdapterBase):
    """``UNet2DModel``: unconditional, or class-conditional through ``class_labels``."""

    model_classes = (UNet2DModel,)

    def example_condition(self, batch_size: int, condition_length: int) -> dict[str, Any]:
        if self.model.config.num_class_embeds is None:
            return {}
        device = next(self.model.parameters()).device
        return {"class_labels": torch.zeros(batch_size, dtype=torch.long, device=device)}


def _block_units(prefix: str, block: nn.Module, hidden_channels: int | None) -> list[UnitSpec]:
    """Prunable units of one down/mid/up block, in execution order.

    Args:
        prefix: the block's module path.
        block: the block.
        hidden_channels: for an up block, the width of the hidden state entering it (the skip tensor is
            concatenated to it before each resnet); ``None`` for down and mid blocks.
    """
    resnets = list(block.resnets)
    attentions = list(getattr(block, "attentions", None) or [])
    is_mid = prefix == "mid_block"
    # Execution order: down/up blocks run resnet j then attention j; a mid block runs resnet 0 first,
    # then (attention j, resnet j + 1) pairs.
    order: list[tuple[str, int]] = []
    for j in range(len(resnets)):
        if is_mid and j > 0 and j - 1 < len(attentions):
            order.append(("attentions", j - 1))
        order.append(("resnets", j))
        if not is_mid and j < len(attentions):
            order.append(("attentions", j))

    units: list[UnitSpec] = []
    for collection, j in order:
        name = f"{prefix}.{collection}.{j}"
        if collection == "attentions":
            unit = _attention_unit(name, attentions[j])
        else:
            resnet = resnets[j]
            unit = _resnet_unit(name, resnet, hidden_channels)
            if hidden_channels is not None:
                hidden_channels = resnet.out_channels
        if unit is not None:
            units.append(unit)
    return units


def _resnet_unit(name: str, resnet: nn.Module, hidden_channels: int | None) -> UnitSpec | None:
    """A resnet is prunable when its skip output (its hidden input) has the width of its output."""
    if not isinstance(resnet, ResnetBlock2D) or resnet.up or resnet.down:
        return None
    if hidden_channels is None:  # down/mid block: the input is the hidden state
        return UnitSpec(name, "resnet") if resnet.in_channels == resnet.out_channels else None
    if hidden_channels != resnet.out_channels:  # up block: input = cat(hidden, skip)
        return None
    return UnitSpec(name, "resnet", identity_channels=hidden_channels)


def _attention_unit(name: str, module: nn.Module | None) -> UnitSpec | None:
    if isinstance(module, Transformer2DModel):
        return UnitSpec(name, "transformer")
    if isinstance(module, Attention) and module.residual_connection:
        return UnitSpec(name, "attention")
    return None
