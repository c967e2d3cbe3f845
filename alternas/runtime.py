"""How torch runs a model: the device, the dtypes by config name, regional ``torch.compile`` of the
prunable units and the process-wide recompile limits it needs."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["PRECISIONS", "allow_recompiles", "compile_units", "resolve_device"]

#: torch dtypes by config name (``train.precision``, ``model.teacher_precision``)
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def compile_units(models: Sequence[nn.Module], unit_names: Sequence[str]) -> int:
    """``torch.compile`` the units ``unit_names`` of every model in place (regional compilation).

    A whole-model compile would recompile for every expert mask (skipped units change the graph) and
    for the feature-distillation hooks; each unit is a fixed computation, compiled once (a sub-batch
    of the samples that keep a unit recompiles once, with dynamic shapes). Call this before gating, so
    each gate wraps the compiled forward. Units of one class share one compiled function, specialised
    per weight shape and per grad state.

    Returns:
        The number of distinct (unit class, weight shapes) variants, for :func:`allow_recompiles`.
    """
    compiled: dict[type, Callable[..., Any]] = {}  # one compiled forward per unit class
    variants: set[tuple[Any, ...]] = set()
    for model in models:
        modules = dict(model.named_modules())
        for name in unit_names:
            module = modules[name]
            forward = compiled.setdefault(type(module), torch.compile(type(module).forward))
            module.forward = functools.partial(forward, module)
            variants.add((type(module), *(tuple(p.shape) for p in module.parameters())))
    return len(variants)


def allow_recompiles(variants: int) -> None:
    """Raise dynamo's process-wide recompile limits to cover ``variants`` compiled unit variants, each
    specialised per grad state (student step, frozen student in the hypernetwork step, no-grad teacher)."""
    dynamo_config = torch._dynamo.config
    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 4 * variants)
    dynamo_config.accumulated_recompile_limit = max(dynamo_config.accumulated_recompile_limit, 8 * variants)
