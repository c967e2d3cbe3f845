"""Noised training batches: samples, condition dropout, noise, timesteps and the regression target.

:class:`NoisedBatches` draws iteration ``k``'s mini-batch from the training set (a deterministic
permutation of ``(seed, k)``) and everything random about it from a caller-supplied generator, so a
run resumed from a checkpoint repeats an uninterrupted one bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import DDPMScheduler

from .bundle import ModelBundle
from .config import RunConfig
from .data.training_set import TrainingSet

__all__ = ["Batch", "NoisedBatches"]


@dataclass
class Batch:
    """One iteration's inputs, shared by the teacher pass and an optimisation step.

    The teacher's outputs are filled in by the trainer's teacher pass.
    """

    noisy: torch.Tensor  # (B, C, H, W)
    timesteps: torch.Tensor  # (B,) long
    condition: dict[str, Any]
    target: torch.Tensor  # (B, C, H, W)
    snr_weights: torch.Tensor | None  # (B,)
    teacher_prediction: torch.Tensor = field(init=False)
    teacher_features: list[torch.Tensor] = field(init=False)


class NoisedBatches:
    """Draws :class:`Batch` es for a run.

    Args:
        config: the run configuration (``train.batch_size``, ``train.seed``, ``data.condition_dropout``,
            ``loss.snr_gamma``).
        bundle: the backbone's noise schedule, prediction type and conditioner.
        training_set: the encoded training samples.
        device: where batches are put.
    """

    def __init__(
        self, config: RunConfig, bundle: ModelBundle, training_set: TrainingSet, device: torch.device
    ) -> None:
        self.config = config
        self.bundle = bundle
        self.training_set = training_set
        self.device = device
        self.noise_scheduler = DDPMScheduler.from_config(bundle.scheduler_config)

    def draw(self, step: int, generator: torch.Generator) -> Batch:
        """Iteration ``step``'s samples with condition dropout, noise and timesteps from ``generator``."""
        train = self.config.train
        indices = self.training_set.indices_for_step(step, train.batch_size, train.seed)
        samples, condition = self.training_set.batch(indices, self.device)
        batch_size = len(samples)
        dropout = self.config.data.condition_dropout
        drop = torch.rand(batch_size, generator=generator) < dropout
        conditioner = self.bundle.conditioner
        if dropout > 0 and conditioner.supports_guidance and bool(drop.any()):
            null = conditioner.null(batch_size, self.device)
            drop = drop.to(self.device)
            condition = {
                key: torch.where(drop.view(-1, *[1] * (value.dim() - 1)), null[key].to(value.dtype), value)
                for key, value in condition.items()
            }
        noise = torch.randn(samples.shape, generator=generator).to(self.device)
        timesteps = torch.randint(0, self.bundle.num_train_timesteps, (batch_size,), generator=generator)
        timesteps = timesteps.to(self.device)
        noisy = self.noise_scheduler.add_noise(samples, noise, timesteps)
        prediction_type = self.bundle.prediction_type
        if prediction_type == "epsilon":
            target = noise
        elif prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(samples, noise, timesteps)
        else:
            target = samples
        return Batch(noisy, timesteps, condition, target, self._snr_weights(timesteps))

    def _snr_weights(self, timesteps: torch.Tensor) -> torch.Tensor | None:
        """Min-SNR loss weights ``min(SNR, gamma) / SNR`` (``/ (SNR + 1)`` for v-prediction), shape ``(B,)``."""
        gamma = self.config.loss.snr_gamma
        if gamma is None:
            return None
        alphas = self.noise_scheduler.alphas_cumprod.to(self.device)[timesteps]
        snr = alphas / (1 - alphas)
        clipped = torch.clamp(snr, max=gamma)
        return clipped / (snr + 1) if self.bundle.prediction_type == "v_prediction" else clipped / snr
