"""The backbone adapter interface: what alternas needs to know about one family of diffusers models."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from ..units import UnitSpec

__all__ = ["BackboneAdapter"]


class BackboneAdapter(ABC):
    """Drives one diffusers backbone class for ALTER.

    A subclass names the model class it supports and answers four questions: which units are
    prunable, how a timestep is projected (the router's input), which blocks feature distillation
    watches, and what a conditioning input looks like. Everything else (gating, MACs, training) is
    generic.

    Args:
        model (`torch.nn.Module`): the diffusers backbone.
    """

    #: the diffusers model classes this adapter drives
    model_classes: ClassVar[tuple[type[nn.Module], ...]] = ()

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    @classmethod
    def supports(cls, model: nn.Module) -> bool:
        """Whether this adapter drives ``model``."""
        return isinstance(model, cls.model_classes)

    @abstractmethod
    def discover_units(self) -> list[UnitSpec]:
        """Every prunable unit, in execution order."""

    @abstractmethod
    def time_projection(self) -> nn.Module:
        """The backbone's own sinusoidal timestep projection (before its time MLP)."""

    @abstractmethod
    def feature_module_names(self) -> list[str]:
        """Module paths whose outputs feature distillation matches (the main blocks)."""

    @abstractmethod
    def example_condition(self, batch_size: int, condition_length: int) -> dict[str, Any]:
        """A conditioning input of the right shape for ``batch_size`` samples (for MACs counting).

        Args:
            batch_size (`int`): number of samples.
            condition_length (`int`): number of text tokens for cross-attention models; ignored by
                label-conditioned ones.
        """

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """Shape ``(channels, height, width)`` of one input sample at the model's native size."""
        config = self.model.config
        size = config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return (config.in_channels, height, width)

    def predict(
        self, sample: torch.Tensor, timestep: torch.Tensor, condition: dict[str, Any]
    ) -> torch.Tensor:
        """Run the backbone and return its prediction, shape ``(batch, channels, height, width)``."""
        return self.model(sample, timestep, **condition, return_dict=False)[0]

    def time_features(self, timesteps: torch.Tensor) -> torch.Tensor:
        """Projected timesteps, shape ``(T, D)`` float32: the temporal router's input."""
        projection = self.time_projection()
        with torch.no_grad():
            return projection(timesteps.to(next(self.model.parameters()).device)).float()
