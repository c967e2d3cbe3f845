"""Sampling schedulers by recipe name, and the training timesteps a sampler visits."""

from __future__ import annotations

from typing import Any

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

__all__ = ["SCHEDULERS", "make_scheduler", "sampler_timesteps"]

#: evaluation samplers by recipe name
SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "ddim": DDIMScheduler,
    "dpm_solver": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
    "ddpm": DDPMScheduler,
}


def make_scheduler(name: str, train_scheduler_config: dict[str, Any]) -> SchedulerMixin:
    """An evaluation scheduler sharing the training noise schedule (betas, prediction type)."""
    return SCHEDULERS[name].from_config(train_scheduler_config)


def sampler_timesteps(name: str, train_scheduler_config: dict[str, Any], steps: int) -> list[int]:
    """The training timesteps a sampler visits at ``steps`` steps, in visiting order."""
    scheduler = make_scheduler(name, train_scheduler_config)
    scheduler.set_timesteps(steps)
    last = int(train_scheduler_config.get("num_train_timesteps", 1000)) - 1
    return [min(max(int(round(float(t))), 0), last) for t in scheduler.timesteps]
