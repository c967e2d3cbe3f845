"""Sampling with a diffusers scheduler, dense or routed through temporal experts."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from ..backbones.base import BackboneAdapter
from ..gating import GateController
from ..routing import ExpertRouter
from ..samplers import make_scheduler

__all__ = [
    "Predictor",
    "dense_predictor",
    "routed_predictor",
    "denoise",
    "generate",
]

#: ``predict(sample (B, C, H, W), timestep (B,), condition kwargs) -> model output (B, C, H, W)``
Predictor = Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]


def dense_predictor(adapter: BackboneAdapter) -> Predictor:
    """The unpruned backbone."""
    return adapter.predict


def routed_predictor(adapter: BackboneAdapter, gates: GateController, router: ExpertRouter) -> Predictor:
    """The backbone running, at each call, only the units of the expert serving each sample's timestep."""

    def predict(sample: torch.Tensor, timestep: torch.Tensor, condition: dict[str, Any]) -> torch.Tensor:
        with gates.apply(router.masks_for(timestep), mode="hard"):
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
    generator: torch.Generator | list[torch.Generator] | None = None,
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
        generator: source of the fresh noise of ancestral samplers (passed to ``scheduler.step`` where it takes
            one; without it they draw from torch's global generator).
    """
    takes_generator = generator is not None and "generator" in inspect.signature(scheduler.step).parameters
    step_kwargs = {"generator": generator} if takes_generator else {}
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
        sample = scheduler.step(output, timestep, sample, **step_kwargs).prev_sample
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
        scheduler_name: key of :data:`~alternas.samplers.SAMPLERS`.
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
