"""Where the frozen parts of a pipeline (VAE, text encoder) run."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["place_frozen"]


def place_frozen(module: nn.Module, device: torch.device | str, cuda_dtype: torch.dtype) -> torch.dtype:
    """Move ``module`` to ``device``: in ``cuda_dtype`` on CUDA, float32 elsewhere; returns that dtype.

    Nothing is moved when the module is already there (diffusers warns on every dtype cast).
    """
    device = torch.device(device)
    dtype = cuda_dtype if device.type == "cuda" else torch.float32
    weight = next(module.parameters())
    same_device = weight.device.type == device.type and device.index in (None, weight.device.index)
    if not same_device or weight.dtype != dtype:
        module.to(device=device, dtype=dtype)
    return dtype
