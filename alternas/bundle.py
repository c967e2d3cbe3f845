"""A backbone together with what it needs to train and sample: noise schedule, conditioner, codec.

These are the types every source fills in: :func:`alternas.sources.load_bundle` builds a
:class:`ModelBundle` from the built-in zoo (:mod:`alternas.zoo`) or from a real latent-diffusion
pipeline (:mod:`alternas.pipelines`). This module imports neither.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from .backbones import adapter_for
from .config import EvalConfig

__all__ = [
    "Codec",
    "Conditioner",
    "ClassLabelConditioner",
    "UnconditionalConditioner",
    "ModelBundle",
    "ReferenceSet",
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


class Codec(Protocol):
    """Maps images to the samples a latent backbone is trained on and back (a VAE; see
    :class:`alternas.pipelines.LatentCodec`)."""

    @property
    def spatial_factor(self) -> int:
        """Image pixels per sample pixel along one side."""

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in ``[-1, 1]`` of shape ``(B, 3, H, W)`` -> samples ``(B, C, H / f, W / f)``."""

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        """Samples ``(B, C, h, w)`` -> images in ``[-1, 1]`` of shape ``(B, 3, h * f, w * f)``."""


@dataclass
class ReferenceSet:
    """Real images and the conditions they were taken with, from the first items of the training data.

    A pipeline bundle starts with an empty set; loading the training data fills it (see
    :func:`alternas.pipelines.datasets.load_pipeline_training_set`), so FID compares generated images
    with real images of the data the run trains on, and text models are evaluated on its captions
    unless ``eval.prompts_file`` is set.

    Attributes:
        images (`torch.Tensor` of shape `(M, 3, H, W)`, uint8): real images, possibly memory-mapped.
        conditions: the caption (or class label) of each image.
    """

    images: torch.Tensor | None = None
    conditions: list[Any] = field(default_factory=list)

    def fill(self, images: torch.Tensor, conditions: list[Any]) -> None:
        """Set the real images ``(M, 3, H, W)`` uint8 and their ``M`` conditions."""
        self.images = images
        self.conditions = list(conditions)


@dataclass
class ModelBundle:
    """A pretrained backbone with its noise schedule, conditioner and (for latent models) decoder.

    Attributes:
        backbone: the diffusers backbone with its pretrained weights.
        scheduler_config: the training noise schedule (a diffusers scheduler config dict).
        conditioner: encodes labels/prompts into forward kwargs.
        source: where the backbone came from (``builtin:digits``, a path, a Hub id, ``config``).
        directory: the folder the backbone was loaded from (a pipeline, the built-in's cache folder).
        codec: the VAE of a latent model; ``None`` for pixel-space models.
        make_quality_metrics: ``(names, eval_config) -> metrics``: builds the default quality metrics
            for a list of metric names (``["fid", "accuracy", ...]``), reading weight locations from
            the eval section; ``None`` when the bundle has no defaults.
        reference: the real images and conditions of a real model's evaluation, filled when its
            training data is loaded; ``None`` when the quality metrics bring their own.
        label_encoder: the module that embeds class labels as tokens (the built-in digits), which an
            exported pipeline carries; ``None`` otherwise.
    """

    backbone: nn.Module
    scheduler_config: dict[str, Any]
    conditioner: Conditioner
    source: str
    directory: Path | None = None
    codec: Codec | None = None
    make_quality_metrics: Callable[[Sequence[str], EvalConfig], list[Any]] | None = None
    reference: ReferenceSet | None = None
    label_encoder: nn.Module | None = None

    @property
    def class_name(self) -> str:
        """The backbone's diffusers class name."""
        return type(self.backbone).__name__

    @property
    def spatial_factor(self) -> int:
        """Image pixels per backbone sample pixel along each side (the VAE's downsampling, else 1)."""
        return int(self.codec.spatial_factor) if self.codec is not None else 1

    @property
    def decode(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Model samples -> images in ``[-1, 1]`` (the VAE decoder); ``None`` for pixel-space models."""
        return self.codec.decode if self.codec is not None else None

    @property
    def encode(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Images in ``[-1, 1]`` -> model samples (the VAE encoder); ``None`` for pixel-space models."""
        return self.codec.encode if self.codec is not None else None

    def sample_shape(self, resolution: int | None = None) -> tuple[int, int, int]:
        """Backbone input shape ``(C, H, W)`` for square images of ``resolution`` px.

        ``None`` gives the backbone's native sample size (its config's ``sample_size``).
        """
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
