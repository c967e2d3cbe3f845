"""Adapter for diffusers ``DiTTransformer2DModel`` (class-conditional DiT, adaLN-Zero blocks)."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DiTTransformer2DModel
from torch import nn

from ..units import UnitSpec
from .base import BackboneAdapter

__all__ = ["DiTAdapter"]


class DiTAdapter(BackboneAdapter):
    """Each transformer block of a DiT is one unit (28 in DiT-XL/2)."""

    model_classes = (DiTTransformer2DModel,)

    def discover_units(self) -> list[UnitSpec]:
        return [
            UnitSpec(f"transformer_blocks.{i}", "dit_block")
            for i in range(len(self.model.transformer_blocks))
        ]

    def time_projection(self) -> nn.Module:
        return self.model.transformer_blocks[0].norm1.emb.time_proj

    def feature_module_names(self) -> list[str]:
        return [f"transformer_blocks.{i}" for i in range(len(self.model.transformer_blocks))]

    def example_condition(self, batch_size: int, condition_length: int) -> dict[str, Any]:
        device = next(self.model.parameters()).device
        return {"class_labels": torch.zeros(batch_size, dtype=torch.long, device=device)}

    def predict(
        self, sample: torch.Tensor, timestep: torch.Tensor, condition: dict[str, Any]
    ) -> torch.Tensor:
        """The noise prediction; a learned-sigma DiT's variance channels are dropped."""
        output = self.model(sample, timestep, **condition, return_dict=False)[0]
        return output[:, : sample.shape[1]]
