"""Routed backbones: diffusers models that run, at each call, only the units of one temporal expert.

Each class subclasses the diffusers model it routes (``RoutedUNet2DConditionModel`` is a
``UNet2DConditionModel``), so its ``config.json`` holds every field of the original model plus three
``expert_*`` fields, its weights are the plain backbone's state dict (one set shared by all experts),
and it is a drop-in ``unet``/``transformer`` for diffusers pipelines. ``forward`` reads the timestep it
is called with, looks up the expert serving it and hard-skips that expert's units (they are not
executed). A batch whose samples have different timesteps is routed per sample.

A saved routed model (with experts) also carries a guard in its ``config.json`` that makes a plain
diffusers class refuse it with a message saying how to load it, instead of loading a dense model that
skips nothing (see :mod:`alternas.export._diffusers`).

Config fields (``None`` for all three = the dense model):

* ``expert_units``: names of the gated units (mask columns), e.g. ``"up_blocks.1.resnets.2"``;
* ``expert_keep``: one row of 0/1 per expert, 1 = the expert runs that unit;
* ``expert_timesteps``: ``[{"expert", "first", "last", ...}]`` intervals of training timesteps that
  together cover ``0 .. T-1`` exactly once (``T`` = the training schedule's length).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from diffusers import DiTTransformer2DModel, UNet2DConditionModel, UNet2DModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_utils import ModelMixin  # also how diffusers finds this module's load method
from torch import nn

from .._readers import LOAD_ERRORS, read_diffusers_config, short
from ..backbones import adapter_for
from ..exceptions import BackboneError, CheckpointError
from ..gating import GateController
from ..plan import ExpertPlan
from ..routing import ExpertRouter, RoutingTable
from ._diffusers import GUARD_KEY, drop_plain_loading_guard, plain_loading_guard

__all__ = [
    "EXPERT_CONFIG_FIELDS",
    "RoutedExpertsMixin",
    "RoutedUNet2DConditionModel",
    "RoutedUNet2DModel",
    "RoutedDiTTransformer2DModel",
    "ROUTED_CLASSES",
    "routed_class_for",
    "routed_from_plan",
    "expert_config_from_plan",
]

#: the config fields a routed model adds to its base model's config
EXPERT_CONFIG_FIELDS = ("expert_units", "expert_keep", "expert_timesteps")


class RoutedExpertsMixin:
    """Temporal-expert routing for a diffusers backbone; mixed in before the backbone class."""

    _expert_gates: GateController | None
    _expert_router: ExpertRouter | None  # keep matrix (N_e, N_L) and routing table, CPU

    def _install_experts(
        self,
        units: Sequence[str] | None,
        keep: Sequence[Sequence[int]] | None,
        timesteps: Sequence[dict[str, int]] | None,
    ) -> None:
        """Validate the ``expert_*`` config fields and gate the named units (see the module docstring)."""
        self._expert_gates = self._expert_router = None
        given = [value is not None for value in (units, keep, timesteps)]
        if not any(given):
            return
        name = type(self).__name__
        if not all(given):
            raise CheckpointError(
                f"`{name}` config sets only some of {list(EXPERT_CONFIG_FIELDS)}; set all three "
                "(a routed model) or none (the dense model)"
            )
        available = {unit.name: unit for unit in adapter_for(self).discover_units()}
        unknown = [unit for unit in units if unit not in available]
        if unknown:
            raise CheckpointError(
                f"`expert_units` names {unknown}, which `{name}` with this config does not have as "
                f"prunable units; it has {sorted(available)}"
            )
        try:
            keep_matrix = torch.tensor([[float(v) for v in row] for row in keep])  # (N_e, N_L)
        except (TypeError, ValueError) as error:  # ragged rows or non-numbers
            raise CheckpointError(f"`expert_keep` must be one row of 0/1 per expert: {error}") from error
        if (
            keep_matrix.dim() != 2
            or keep_matrix.shape[1] != len(units)
            or not bool(((keep_matrix == 0) | (keep_matrix == 1)).all())
        ):
            raise CheckpointError(
                f"`expert_keep` must be one row of {len(units)} zeros/ones per expert, got shape "
                f"{tuple(keep_matrix.shape)}"
            )
        try:
            table = RoutingTable.from_intervals(timesteps, num_experts=keep_matrix.shape[0])
        except ValueError as error:
            raise CheckpointError(f"`expert_timesteps` {error}") from error
        self._expert_router = ExpertRouter(keep_matrix, table)
        self._expert_gates = GateController(self, [available[unit] for unit in units])

    @property
    def num_experts(self) -> int:
        """Number of experts (1 for the dense model)."""
        return 1 if self._expert_router is None else self._expert_router.table.num_experts

    def expert_for_timestep(self, timestep: float | int | torch.Tensor) -> torch.Tensor:
        """Expert of each timestep: a scalar or ``(B,)`` tensor -> long tensor of the same numel.

        Timesteps are rounded to the nearest training timestep and clamped to ``[0, T-1]``.
        """
        if self._expert_router is None:
            return torch.zeros(torch.as_tensor(timestep).numel(), dtype=torch.long)
        return self._expert_router.table.lookup(timestep)

    @classmethod
    def load_config(cls, *args: Any, **kwargs: Any) -> Any:
        """diffusers' ``load_config`` (same arguments and results), without the plain-loading guard."""
        loaded = super().load_config(*args, **kwargs)
        drop_plain_loading_guard(loaded[0] if isinstance(loaded, tuple) else loaded)
        return loaded

    def to_json_string(self) -> str:
        """The config as diffusers writes it (``config.json``), with the plain-loading guard when the model
        has experts (a quantized model keeps its own ``quantization_config`` and gets no guard)."""
        text = super().to_json_string()
        if getattr(self, "_expert_router", None) is None:
            return text
        config = json.loads(text)
        if config.get(GUARD_KEY) is not None:
            return text
        base = next(c for c in type(self).__mro__ if c.__name__ in ROUTED_CLASSES)
        config[GUARD_KEY] = plain_loading_guard(type(self).__name__, base.__name__)
        return json.dumps(config, indent=2, sort_keys=True) + "\n"

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The base model's ``forward``, running only the units of the expert(s) serving ``timestep``."""
        if self._expert_gates is None:
            return super().forward(*args, **kwargs)
        timestep = kwargs["timestep"] if "timestep" in kwargs else args[1]
        masks = self._expert_router.masks_for(timestep)  # (N_L,), or (B, N_L) for per-sample routing
        with self._expert_gates.apply(masks, mode="hard"):
            return super().forward(*args, **kwargs)


def _routed_init(base: type[nn.Module]) -> Callable[..., None]:
    """The ``__init__`` of a routed subclass of ``base``, registered to its config.

    diffusers reads a model's config keys from its ``__init__`` signature (both when registering and
    when loading), so the returned function carries ``base``'s signature plus the keyword-only
    ``expert_*`` fields instead of an opaque ``**kwargs``.
    """

    def __init__(
        self: RoutedExpertsMixin,
        *args: Any,
        expert_units: list[str] | None = None,
        expert_keep: list[list[int]] | None = None,
        expert_timesteps: list[dict[str, int]] | None = None,
        **kwargs: Any,
    ) -> None:
        base.__init__(self, *args, **kwargs)
        self._install_experts(expert_units, expert_keep, expert_timesteps)

    base_parameters = list(inspect.signature(base.__init__).parameters.values())
    expert_parameters = [
        inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY, default=None)
        for field in EXPERT_CONFIG_FIELDS
    ]
    __init__.__signature__ = inspect.Signature(base_parameters + expert_parameters)
    __init__.__doc__ = f"Build a routed ``{base.__name__}``: its own arguments plus the ``expert_*`` fields."
    return register_to_config(__init__)


class RoutedUNet2DConditionModel(RoutedExpertsMixin, UNet2DConditionModel):
    """A ``UNet2DConditionModel`` routed through temporal experts (drop-in ``unet`` for Stable Diffusion)."""

    __init__ = _routed_init(UNet2DConditionModel)


class RoutedUNet2DModel(RoutedExpertsMixin, UNet2DModel):
    """A ``UNet2DModel`` routed through temporal experts."""

    __init__ = _routed_init(UNet2DModel)


class RoutedDiTTransformer2DModel(RoutedExpertsMixin, DiTTransformer2DModel):
    """A ``DiTTransformer2DModel`` routed through temporal experts (drop-in ``transformer`` for ``DiTPipeline``)."""

    __init__ = _routed_init(DiTTransformer2DModel)


#: routed class of each supported diffusers backbone class name
ROUTED_CLASSES: dict[str, type[ModelMixin]] = {
    "UNet2DConditionModel": RoutedUNet2DConditionModel,
    "UNet2DModel": RoutedUNet2DModel,
    "DiTTransformer2DModel": RoutedDiTTransformer2DModel,
}


def routed_class_for(class_name: str) -> type[ModelMixin]:
    """The routed class for a backbone class name (``plan.backbone["class_name"]``).

    Raises:
        BackboneError: the class has no routed counterpart.
    """
    if class_name not in ROUTED_CLASSES:
        raise BackboneError(
            f"backbone class `{class_name}` cannot be exported as a routed model; "
            f"supported: {sorted(ROUTED_CLASSES)}"
        )
    return ROUTED_CLASSES[class_name]


def expert_config_from_plan(plan: ExpertPlan) -> dict[str, Any]:
    """The ``expert_*`` config fields that make a routed model follow ``plan``."""
    keep = plan.keep_matrix()  # (N_e, N_L)
    return {
        "expert_units": plan.unit_names,
        "expert_keep": [[int(v) for v in row] for row in keep.tolist()],
        "expert_timesteps": [interval.model_dump() for interval in plan.train_routing],
    }


def routed_from_plan(
    backbone: str | Path, plan: ExpertPlan, torch_dtype: torch.dtype | None = None
) -> ModelMixin:
    """Load a saved backbone (``save_pretrained`` folder) as the routed model of ``plan``.

    Args:
        backbone: folder with the fine-tuned backbone's ``config.json`` and weights.
        plan: the experts and routing table.
        torch_dtype: dtype to load the weights in (default: as stored).
    """
    routed_class = routed_class_for(plan.backbone["class_name"])
    read_diffusers_config(Path(backbone) / "config.json")
    try:
        return routed_class.from_pretrained(
            backbone, torch_dtype=torch_dtype, local_files_only=True, **expert_config_from_plan(plan)
        )
    except LOAD_ERRORS as error:
        raise CheckpointError(
            f"cannot load the fine-tuned backbone from `{backbone}` (damaged?): {type(error).__name__}: "
            f"{short(error, 200)}"
        ) from error
