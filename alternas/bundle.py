"""A backbone together with what it needs to train and sample: noise schedule, conditioner, decoder.

:func:`load_bundle` turns a :class:`~alternas.config.ModelConfig` into a :class:`ModelBundle`. The
built-in ``builtin:digits`` teacher lives in :mod:`alternas.zoo.digits`; real latent-diffusion
pipelines (Stable Diffusion, DiT) in :mod:`alternas.pipelines`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .config import EvalConfig, ModelConfig

__all__ = [
    "Conditioner",
    "ClassLabelConditioner",
    "UnconditionalConditioner",
    "ModelBundle",
    "load_bundle",
]


class Conditioner(ABC):
    """Turns user-facing conditions (class labels or prompts) into backbone forward kwargs."""

    #: tokens per condition (cross-attention sequence length; 1 for label-conditioned backbones)
    condition_length: int = 1

    @abstractmethod
    def encode(self, conditions: Sequence[Any], device: torch.device | str) -> dict[str, torch.Tensor]:
        """Forward kwargs for ``len(conditions)`` samples."""

    @abstractmethod
    def null(self, batch_size: int, device: torch.device | str) -> dict[str, torch.Tensor]:
        """The unconditional input (classifier-free guidance, condition dropout)."""

    @abstractmethod
    def evaluation_conditions(self, count: int) -> list[Any]:
        """Default conditions for ``count`` evaluation samples (balanced over classes)."""

    @property
    def supports_guidance(self) -> bool:
        """Whether there is a null condition, so classifier-free guidance is possible."""
        return True


class ClassLabelConditioner(Conditioner):
    """Class-conditioned backbones taking ``class_labels`` (DiT, class-conditional UNet2DModel).

    Args:
        num_classes: number of real classes; labels are ``0..num_classes-1``.
        null_label: the label id meaning "no class" (DiT: ``num_classes``), ``None`` if absent.
    """

    def __init__(self, num_classes: int, null_label: int | None) -> None:
        self.num_classes = num_classes
        self.null_label = null_label

    def encode(self, conditions: Sequence[Any], device: torch.device | str) -> dict[str, torch.Tensor]:
        return {"class_labels": torch.as_tensor([int(c) for c in conditions], dtype=torch.long, device=device)}

    def null(self, batch_size: int, device: torch.device | str) -> dict[str, torch.Tensor]:
        if self.null_label is None:
            raise ValueError("this backbone has no null class label; classifier-free guidance is off")
        return {"class_labels": torch.full((batch_size,), self.null_label, dtype=torch.long, device=device)}

    def evaluation_conditions(self, count: int) -> list[Any]:
        return [i % self.num_classes for i in range(count)]

    @property
    def supports_guidance(self) -> bool:
        return self.null_label is not None


class UnconditionalConditioner(Conditioner):
    """Backbones without conditioning (unconditional UNet2DModel)."""

    def encode(self, conditions: Sequence[Any], device: torch.device | str) -> dict[str, torch.Tensor]:
        return {}

    def null(self, batch_size: int, device: torch.device | str) -> dict[str, torch.Tensor]:
        return {}

    def evaluation_conditions(self, count: int) -> list[Any]:
        return [None] * count

    @property
    def supports_guidance(self) -> bool:
        return False


@dataclass
class ModelBundle:
    """A pretrained backbone with its noise schedule, conditioner and (for latent models) decoder.

    Attributes:
        backbone: the diffusers backbone with its pretrained weights.
        scheduler_config: the training noise schedule (a diffusers scheduler config dict).
        conditioner: encodes labels/prompts into forward kwargs.
        source: where the backbone came from (``builtin:digits``, a path, a Hub id, ``config``).
        decode: maps model samples to images in ``[-1, 1]`` of shape ``(B, 3 or 1, H, W)``
            (the VAE decoder for latent models; ``None`` for pixel-space models).
        encode: maps images in ``[-1, 1]`` to model samples (the scaled VAE encoder); ``None`` for
            pixel-space models.
        make_quality_metrics: ``(names, eval_config) -> metrics``: builds the default quality metrics
            for a list of metric names (``["fid", "accuracy", ...]``), reading weight locations from
            the eval section; ``None`` when the bundle has no defaults.
        extras: other pipeline parts a loader wants to keep (e.g. tokenizer and text encoder).
    """

    backbone: nn.Module
    scheduler_config: dict[str, Any]
    conditioner: Conditioner
    source: str
    decode: Callable[[torch.Tensor], torch.Tensor] | None = None
    encode: Callable[[torch.Tensor], torch.Tensor] | None = None
    make_quality_metrics: Callable[[Sequence[str], EvalConfig], list[Any]] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        """The backbone's diffusers class name."""
        return type(self.backbone).__name__

    @property
    def spatial_factor(self) -> int:
        """Image pixels per backbone sample pixel along each side (the VAE's downsampling, else 1)."""
        codec = self.extras.get("codec")
        return int(codec.spatial_factor) if codec is not None else 1

    def sample_shape(self, resolution: int | None = None) -> tuple[int, int, int]:
        """Backbone input shape ``(C, H, W)`` for square images of ``resolution`` px.

        ``None`` gives the backbone's native sample size (its config's ``sample_size``).
        """
        from .backbones import adapter_for

        channels, height, width = adapter_for(self.backbone).sample_shape
        if resolution is not None:
            height = width = resolution // self.spatial_factor
        return channels, height, width

    @property
    def num_train_timesteps(self) -> int:
        """Length ``T`` of the training noise schedule."""
        return int(self.scheduler_config.get("num_train_timesteps", 1000))

    @property
    def prediction_type(self) -> str:
        """``epsilon``, ``v_prediction`` or ``sample``."""
        return str(self.scheduler_config.get("prediction_type", "epsilon"))


def load_bundle(config: ModelConfig) -> ModelBundle:
    """Build the :class:`ModelBundle` a model config names."""
    if config.backbone.startswith("builtin:"):
        from .zoo import load_builtin

        return load_builtin(config.backbone.removeprefix("builtin:"), config.builtin)
    from .pipelines import load_pipeline_bundle

    return load_pipeline_bundle(config)
