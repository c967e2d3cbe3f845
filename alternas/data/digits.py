"""scikit-learn's handwritten digits (1797 images, 8x8, ten classes): ships inside the wheel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["load_digits_tensors"]


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
