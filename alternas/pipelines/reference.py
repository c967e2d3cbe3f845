"""The evaluation reference of a real-model run: real images (FID) and their captions (default prompts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["ReferenceSet"]


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
