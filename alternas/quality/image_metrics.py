"""Pluggable quality metrics for generated images.

A :class:`QualityMetric` scores a set of images (float in ``[0, 1]``, shape ``(N, C, H, W)``) given
the conditions they were generated for. alternas composes the defaults per backbone (a bundle's
``make_quality_metrics``). A metric that also returns per-image scores (:meth:`QualityMetric.sample_scores`)
gets intervals in reports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from .scores import SampleScores

__all__ = ["QualityMetric", "FrechetDistance", "ClassConsistency"]


class QualityMetric(ABC):
    """Scores generated images; ``names`` are the metric keys :meth:`score` returns."""

    names: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def score(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        """Metric values for ``images`` (``[0, 1]``, ``(N, C, H, W)``) generated for ``conditions``."""

    def sample_scores(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, SampleScores]:
        """What each metric value is computed from, image by image, so that reports can put an interval on
        it (:mod:`alternas.quality`); empty for a metric that cannot be recomputed on a subset of the
        images (its values then carry no interval). A metric that offers them computes :meth:`score`
        from them, so the two always agree."""
        return {}


class FrechetDistance(QualityMetric):
    """Fréchet distance between generated and real images in any feature extractor's space.

    The extractor is the digits classifier for the built-in default and Inception for real models;
    the real images' feature mean and covariance are computed once (float64), the generated images'
    from their features (:func:`~alternas.quality.frechet_distance`, the formula of torchmetrics'
    ``FrechetInceptionDistance``).

    Args:
        extractor (`torch.nn.Module`): maps images in ``[0, 1]`` to ``(N, d)`` features and has an
            ``int`` attribute ``num_features`` = ``d``.
        real_images (`torch.Tensor` of shape `(N, C, H, W)` in `[0, 1]`): the reference set.
        batch_size: images per feature-extraction batch.
    """

    names = ("fid",)

    def __init__(self, extractor: nn.Module, real_images: torch.Tensor, batch_size: int = 256) -> None:
        self.extractor = extractor
        self.batch_size = batch_size
        real = self._features(real_images)
        centred = real - real.mean(0)
        self.reference = (real.mean(0), centred.T @ centred / (len(real) - 1))

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, d)`` float64 features of images in ``[0, 1]``."""
        with torch.no_grad():
            return torch.cat([self.extractor(chunk).double().reshape(len(chunk), -1) for chunk in images.split(self.batch_size)])

    def sample_scores(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, SampleScores]:
        return {"fid": SampleScores("frechet", self._features(images).float(), self.reference)}

    def score(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        return {"fid": float(self.sample_scores(images, conditions)["fid"].value())}


class ClassConsistency(QualityMetric):
    """Share of class-conditional samples that a classifier assigns to the label they were made for.

    Args:
        classifier: a module with ``logits(images) -> (N, num_classes)``.
    """

    names = ("accuracy",)

    def __init__(self, classifier: nn.Module) -> None:
        self.classifier = classifier

    def sample_scores(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, SampleScores]:
        labels = torch.as_tensor([int(c) for c in conditions])
        with torch.no_grad():
            predicted = self.classifier.logits(images).argmax(dim=1)
        return {"accuracy": SampleScores("mean", (predicted == labels).float())}

    def score(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        return {"accuracy": float(self.sample_scores(images, conditions)["accuracy"].value())}
