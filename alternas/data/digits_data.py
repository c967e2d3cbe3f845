"""scikit-learn's handwritten digits (1797 images, 8x8, ten classes): ships inside the wheel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..bundle import ModelBundle
from ..config import DataConfig
from ..exceptions import DataError
from .training_set import TrainingSet

__all__ = ["digits_training_set", "load_digits_tensors"]


def load_digits_tensors(resolution: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as images in ``[-1, 1]`` and their labels.

    Args:
        resolution: image side in pixels (8 is native; others are bilinear resizes).

    Returns:
        ``(images, labels)``: float32 of shape ``(1797, 1, resolution, resolution)`` and long ``(1797,)``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [0, 1]
    if resolution != images.shape[-1]:
        images = F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return images.clamp(0, 1) * 2 - 1, torch.tensor(digits.target, dtype=torch.long)


def digits_training_set(config: DataConfig, bundle: ModelBundle, sample_shape: tuple[int, int, int]) -> TrainingSet:
    """The digits (at most ``config.max_items``) with their labels encoded by ``bundle``'s conditioner.

    Raises:
        DataError: the backbone does not take 1-channel pixel samples.
    """
    if bundle.codec is not None or sample_shape[0] != 1:
        raise DataError(
            "`builtin:digits` is 1-channel pixel data; it needs a pixel-space backbone with "
            f"in_channels=1 (this one takes {sample_shape})"
        )
    images, labels = load_digits_tensors(sample_shape[-1])
    if config.max_items is not None:
        images, labels = images[: config.max_items], labels[: config.max_items]
    conditions = bundle.conditioner.encode(labels.tolist(), "cpu")
    return TrainingSet(images, conditions, labels)
