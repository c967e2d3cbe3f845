"""Training samples in model space with their encoded conditions, and deterministic batching."""

from __future__ import annotations

from typing import Any

import torch

from ..exceptions import DataError

__all__ = ["TrainingSet"]


class TrainingSet:
    """``N`` training samples (pixels or latents) with their pre-encoded conditions.

    Tensors may live in memory or be memory-mapped from a cache; batches are gathered by index.

    Args:
        samples (`torch.Tensor` of shape `(N, C, H, W)`): model-space samples (images in ``[-1, 1]``
            or scaled VAE latents).
        conditions (dict of `torch.Tensor` with first dim `N`): backbone forward kwargs per sample.
        labels (`torch.Tensor` of shape `(N,)`, *optional*): class labels, for class-aware reporting.
    """

    def __init__(
        self,
        samples: torch.Tensor,
        conditions: dict[str, torch.Tensor],
        labels: torch.Tensor | None = None,
    ) -> None:
        if len(samples) == 0:
            raise DataError("the training set is empty")
        for key, value in conditions.items():
            if len(value) != len(samples):
                raise DataError(f"condition `{key}` has {len(value)} rows for {len(samples)} samples")
        self.samples = samples
        self.conditions = conditions
        self.labels = labels

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one sample."""
        return tuple(self.samples.shape[1:])

    def batch(self, indices: torch.Tensor, device: torch.device | str) -> tuple[torch.Tensor, dict[str, Any]]:
        """Samples and conditions at ``indices``, on ``device`` (floating-point ones as float32: a
        pre-encoded cache may store them in half precision)."""
        samples = self.samples[indices].to(device=device, dtype=torch.float32)
        conditions = {
            key: value[indices].to(device=device, dtype=torch.float32 if value.is_floating_point() else value.dtype)
            for key, value in self.conditions.items()
        }
        return samples, conditions

    def indices_for_step(self, step: int, batch_size: int, seed: int) -> torch.Tensor:
        """Indices of the batch of iteration ``step``: epochs of seeded permutations, no state.

        The same ``(step, batch_size, seed)`` always gives the same batch, so a resumed run sees
        exactly the data an uninterrupted one would.
        """
        count = len(self)
        positions = torch.arange(step * batch_size, (step + 1) * batch_size)
        indices = torch.empty(batch_size, dtype=torch.long)
        for epoch in positions.div(count, rounding_mode="floor").unique().tolist():
            permutation = torch.randperm(count, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
            selected = positions.div(count, rounding_mode="floor") == epoch
            indices[selected] = permutation[positions[selected] % count]
        return indices
