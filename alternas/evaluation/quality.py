"""Pluggable quality metrics for generated images.

A :class:`QualityMetric` scores a set of images (float in ``[0, 1]``, shape ``(N, C, H, W)``) given
the conditions they were generated for. alternas composes the defaults per backbone; users add their
own by subclassing and passing instances to :func:`alternas.evaluation.evaluate_generation`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

__all__ = ["QualityMetric", "FrechetDistance", "ClassConsistency"]


class QualityMetric(ABC):
    """Scores generated images; ``names`` are the metric keys :meth:`score` returns."""

    names: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def score(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        """Metric values for ``images`` (``[0, 1]``, ``(N, C, H, W)``) generated for ``conditions``."""


class FrechetDistance(QualityMetric):
    """Fréchet distance between generated and real images in any feature extractor's space.

    torchmetrics' ``FrechetInceptionDistance`` does the statistics; the extractor is the digits
    classifier for the built-in default and Inception for real models.

    Args:
        extractor (`torch.nn.Module`): maps images in ``[0, 1]`` to ``(N, d)`` features and has an
            ``int`` attribute ``num_features`` = ``d``.
        real_images (`torch.Tensor` of shape `(N, C, H, W)` in `[0, 1]`): the reference set.
        batch_size: images per feature-extraction batch.
    """

    names = ("fid",)

    def __init__(self, extractor: nn.Module, real_images: torch.Tensor, batch_size: int = 256) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance

        self.batch_size = batch_size
        self.metric = FrechetInceptionDistance(feature=extractor, reset_real_features=False, normalize=True)
        with torch.no_grad():
            for chunk in real_images.split(batch_size):
                self.metric.update(chunk, real=True)

    def score(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        self.metric.reset()
        with torch.no_grad():
            for chunk in images.split(self.batch_size):
                self.metric.update(chunk, real=False)
            return {"fid": float(self.metric.compute())}


class ClassConsistency(QualityMetric):
    """Share of class-conditional samples that a classifier assigns to the label they were made for.

    Args:
        classifier: a module with ``logits(images) -> (N, num_classes)``.
    """

    names = ("accuracy",)

    def __init__(self, classifier: nn.Module) -> None:
        self.classifier = classifier

    def score(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        labels = torch.as_tensor([int(c) for c in conditions])
        with torch.no_grad():
            predicted = self.classifier.logits(images).argmax(dim=1)
        return {"accuracy": float((predicted == labels).float().mean())}
