"""Sampling with a diffusers scheduler, dense or routed through temporal experts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from ..backbones.base import BackboneAdapter
from ..gating import GateController

__all__ = [
    "SCHEDULERS",
    "Predictor",
    "ExpertRouter",
    "make_scheduler",
    "sampler_timesteps",
    "dense_predictor",
    "routed_predictor",
    "denoise",
    "generate",
]

#: evaluation samplers by recipe name
SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "ddim": DDIMScheduler,
    "dpm_solver": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
    "ddpm": DDPMScheduler,
}

#: ``predict(sample (B, C, H, W), timestep (B,), condition kwargs) -> model output (B, C, H, W)``
Predictor = Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]


def make_scheduler(name: str, train_scheduler_config: dict[str, Any]) -> SchedulerMixin:
    """An evaluation scheduler sharing the training noise schedule (betas, prediction type)."""
    return SCHEDULERS[name].from_config(train_scheduler_config)


def sampler_timesteps(name: str, train_scheduler_config: dict[str, Any], steps: int) -> list[int]:
    """The training timesteps a sampler visits at ``steps`` steps, in visiting order."""
    scheduler = make_scheduler(name, train_scheduler_config)
    scheduler.set_timesteps(steps)
    last = int(train_scheduler_config.get("num_train_timesteps", 1000)) - 1
    return [min(max(int(round(float(t))), 0), last) for t in scheduler.timesteps]


class ExpertRouter:
    """Maps a timestep to the keep mask of the expert that serves it.

    Args:
        keep (`torch.Tensor` of shape `(N_e, N_L)`): 0/1 keep matrix.
        assignment (`torch.Tensor` of shape `(T,)`): expert of each training timestep.
    """

    def __init__(self, keep: torch.Tensor, assignment: torch.Tensor) -> None:
        self.keep = keep.float()
        self.assignment = assignment.long()

    def expert_for(self, timestep: float | int | torch.Tensor) -> int:
        """Expert index serving ``timestep`` (rounded and clamped to the training schedule)."""
        value = float(timestep.flatten()[0]) if isinstance(timestep, torch.Tensor) else float(timestep)
        index = min(max(int(round(value)), 0), len(self.assignment) - 1)
        return int(self.assignment[index])

    def mask_for(self, timestep: float | int | torch.Tensor) -> torch.Tensor:
        """Keep mask of shape ``(N_L,)`` for ``timestep``."""
        return self.keep[self.expert_for(timestep)]


def dense_predictor(adapter: BackboneAdapter) -> Predictor:
    """The unpruned backbone."""
    return adapter.predict


def routed_predictor(adapter: BackboneAdapter, gates: GateController, router: ExpertRouter) -> Predictor:
    """The backbone running, at each call, only the units of the expert serving the call's timestep."""

    def predict(sample: torch.Tensor, timestep: torch.Tensor, condition: dict[str, Any]) -> torch.Tensor:
        with gates.apply(router.mask_for(timestep), mode="hard"):
            return adapter.predict(sample, timestep, condition)

    return predict


@torch.no_grad()
def denoise(
    predict: Predictor,
    scheduler: SchedulerMixin,
    noise: torch.Tensor,
    condition: dict[str, Any],
    null_condition: dict[str, Any] | None,
    guidance_scale: float,
    steps: int,
    on_step: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Run the sampler from ``noise`` and return the final model-space samples.

    Args:
        predict: the model.
        scheduler: a fresh scheduler (its state is reset by ``set_timesteps``).
        noise (`torch.Tensor` of shape `(B, C, H, W)`): initial noise (unit variance).
        condition: forward kwargs for the ``B`` samples.
        null_condition: unconditional kwargs for classifier-free guidance (``B`` rows), or ``None``.
        guidance_scale: guidance weight; guidance runs only when it is > 1 and a null condition exists.
        steps: number of sampler steps.
        on_step: called with ``(step index, timestep)`` before each step.
    """
    scheduler.set_timesteps(steps, device=noise.device)
    sample = noise * scheduler.init_noise_sigma
    guided = guidance_scale > 1.0 and null_condition is not None
    if guided:
        condition = {key: torch.cat([null_condition[key], value]) for key, value in condition.items()}
    for index, timestep in enumerate(scheduler.timesteps):
        if on_step is not None:
            on_step(index, int(timestep))
        model_input = torch.cat([sample, sample]) if guided else sample
        model_input = scheduler.scale_model_input(model_input, timestep)
        timesteps = timestep.expand(model_input.shape[0]).to(noise.device)
        output = predict(model_input, timesteps, condition)
        if guided:
            unconditional, conditional = output.chunk(2)
            output = unconditional + guidance_scale * (conditional - unconditional)
        sample = scheduler.step(output, timestep, sample).prev_sample
    return sample


def generate(
    predict: Predictor,
    *,
    scheduler_name: str,
    train_scheduler_config: dict[str, Any],
    steps: int,
    noise: torch.Tensor,
    conditions: Sequence[Any],
    conditioner: Any,
    guidance_scale: float,
    batch_size: int,
    decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Generate one image per noise row, in batches; returns images in ``[0, 1]`` on the CPU.

    Args:
        predict: the model.
        scheduler_name: key of :data:`SCHEDULERS`.
        train_scheduler_config: the training noise schedule.
        steps: sampler steps.
        noise (`torch.Tensor` of shape `(N, C, H, W)`): one noise tensor per image, on the model device.
        conditions: ``N`` labels or prompts.
        conditioner: the bundle's :class:`~alternas.bundle.Conditioner`.
        guidance_scale: classifier-free guidance (1 = off).
        batch_size: images per batch.
        decode: model samples -> images in ``[-1, 1]`` (VAE); ``None`` for pixel models.
    """
    device = noise.device
    guided = guidance_scale > 1.0 and conditioner.supports_guidance
    images = []
    for start in range(0, len(noise), batch_size):
        chunk = noise[start : start + batch_size]
        batch_conditions = list(conditions[start : start + batch_size])
        condition = conditioner.encode(batch_conditions, device)
        null = conditioner.null(len(chunk), device) if guided else None
        scheduler = make_scheduler(scheduler_name, train_scheduler_config)
        sample = denoise(predict, scheduler, chunk, condition, null, guidance_scale, steps)
        pixels = decode(sample) if decode is not None else sample
        images.append(((pixels.float().clamp(-1, 1) + 1) / 2).cpu())
    return torch.cat(images)
