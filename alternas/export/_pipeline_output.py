"""What alternas' own pipelines return: model-space samples in ``[-1, 1]`` as images in ``[0, 1]``."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput

__all__ = ["OUTPUT_TYPES", "check_output_type", "image_output"]

#: the ``output_type`` values a pipeline call accepts
OUTPUT_TYPES = ("pil", "np", "pt")


def check_output_type(output_type: str) -> None:
    """Raise ``ValueError`` unless ``output_type`` is one of :data:`OUTPUT_TYPES`."""
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"`output_type` must be 'pil', 'np' or 'pt', got {output_type!r}")


def image_output(sample: torch.Tensor, output_type: str, return_dict: bool) -> ImagePipelineOutput | tuple[Any]:
    """``sample`` (``(B, C, H, W)`` in ``[-1, 1]``) as ``output_type``: ``"pt"`` ``(B, C, H, W)`` or ``"np"``
    ``(B, H, W, C)`` floats in ``[0, 1]``, or PIL images; in an ``ImagePipelineOutput`` or the tuple
    ``(images,)``."""
    images = ((sample.float().clamp(-1, 1) + 1) / 2).cpu()  # (B, C, H, W) in [0, 1]
    if output_type != "pt":
        images = images.permute(0, 2, 3, 1).numpy()  # (B, H, W, C)
        if output_type == "pil":
            images = DiffusionPipeline.numpy_to_pil(images)
    return ImagePipelineOutput(images=images) if return_dict else (images,)
