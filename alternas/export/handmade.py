"""Build an :class:`~alternas.plan.ExpertPlan` from hand-chosen masks and routing, without training.

Useful to export a hand-designed routing (or a baseline) with the same tools as a searched one, and
for benchmarks and tests that need a plan on a backbone of a chosen size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..backbones import adapter_for
from ..samplers import sampler_timesteps
from ..exceptions import BackboneError
from ..macs import MacsConvention, profile_costs
from ..plan import ExpertPlan

__all__ = ["plan_from_masks"]


def plan_from_masks(
    model: nn.Module,
    keep: torch.Tensor,
    assignment: torch.Tensor,
    *,
    scheduler_config: dict[str, Any],
    scheduler: str = "ddim",
    steps: int = 20,
    units: Sequence[str] | None = None,
    condition_length: int = 1,
    guidance: bool = False,
    routing_mode: str = "manual",
    convention: MacsConvention = "macs",
) -> ExpertPlan:
    """The plan of experts ``keep`` routed by ``assignment``, with MACs measured on ``model``.

    Args:
        model: the backbone (a supported diffusers model).
        keep (`torch.Tensor` of shape `(N_e, N_L)`): 0/1, which of ``units`` each expert runs.
        assignment (`torch.Tensor` of shape `(T,)`): expert of every training timestep.
        scheduler_config: the training noise schedule (a diffusers scheduler config dict).
        scheduler: sampler name (see :data:`alternas.samplers.SAMPLERS`).
        steps: sampler steps the plan's sampler routing and MACs are given for.
        units: names of the gated units (mask columns); ``None`` = every prunable unit, in order.
        condition_length: cross-attention tokens used when measuring MACs (text models).
        guidance: whether sampling uses classifier-free guidance (doubles generation MACs).
        routing_mode: recorded in the plan (``manual``, ``static``, ``learned``).
        convention: what MACs count (see :mod:`alternas.macs`).
    """
    adapter = adapter_for(model)
    available = {unit.name: unit for unit in adapter.discover_units()}
    names = list(available) if units is None else list(units)
    missing = [name for name in names if name not in available]
    if missing:
        raise BackboneError(
            f"`units` names {missing}, which are not prunable units of `{type(model).__name__}`"
        )
    chosen = [available[name] for name in names]
    costs = profile_costs(adapter, chosen, condition_length=condition_length, convention=convention)
    return ExpertPlan.build(
        units=chosen,
        costs=costs,
        keep=keep,
        assignment=assignment,
        sampler_name=scheduler,
        sampler_timesteps=sampler_timesteps(scheduler, scheduler_config, steps),
        guidance=guidance,
        routing_mode=routing_mode,
        backbone={"class_name": type(model).__name__, "source": "handmade"},
    )
