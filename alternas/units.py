"""Prunable units: what a unit is, how its skip (identity) is formed, and how units are selected.

A *unit* is one sub-module of a backbone whose output can be replaced by (part of) its input, so that
an expert may skip it: ``y = (1 - m) * x + m * f(x)``. Each unit has a stable name (its module path in
the backbone, e.g. ``"up_blocks.1.resnets.2"``), a kind and a skip rule.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .exceptions import BackboneError

__all__ = ["UNIT_KINDS", "UnitSpec", "select_units"]

#: The kinds of prunable unit alternas knows, with what each one is.
UNIT_KINDS: dict[str, str] = {
    "resnet": "a diffusers ResnetBlock2D whose input and output widths match",
    "transformer": "a whole Transformer2DModel (norm, proj_in, transformer blocks, proj_out) in a UNet",
    "attention": "a residual self-attention module (diffusers Attention) in a UNet2DModel block",
    "dit_block": "one transformer block of a DiT / PixArt-style transformer",
}


@dataclass(frozen=True)
class UnitSpec:
    """One prunable unit of a backbone.

    Args:
        name (`str`): the module path inside the backbone, e.g. ``"down_blocks.0.attentions.1"``.
        kind (`str`): one of :data:`UNIT_KINDS`.
        identity_channels (`int`, *optional*): when set, the skip output is the first
            ``identity_channels`` channels of the input (an up-block resnet whose input is the hidden
            state concatenated with a skip tensor); when ``None`` the skip output is the input itself.
    """

    name: str
    kind: str
    identity_channels: int | None = None

    def hidden_input(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
        """The tensor the unit transforms: its first positional argument or its documented keyword."""
        if args:
            return args[0]
        key = "input_tensor" if self.kind == "resnet" else "hidden_states"
        if key not in kwargs:
            raise BackboneError(f"unit `{self.name}` was called without `{key}`; cannot gate it")
        return kwargs[key]

    def identity(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output the unit has when skipped, same shape as its normal output."""
        if self.identity_channels is None:
            return hidden
        return hidden[:, : self.identity_channels]

    def unpack(self, output: Any) -> torch.Tensor:
        """The output tensor of one call of the unit, whatever container the module returns."""
        if isinstance(output, torch.Tensor):
            return output
        if isinstance(output, tuple):
            return output[0]
        return output.sample  # a diffusers BaseOutput

    def pack(self, tensor: torch.Tensor, kwargs: dict[str, Any]) -> Any:
        """Wrap ``tensor`` the way the unit's module returns its output for these call kwargs."""
        if self.kind != "transformer":
            return tensor
        if kwargs.get("return_dict", True):
            from diffusers.models.modeling_outputs import Transformer2DModelOutput

            return Transformer2DModelOutput(sample=tensor)
        return (tensor,)


def select_units(
    units: Sequence[UnitSpec],
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    kinds: Sequence[str] | None = None,
) -> list[UnitSpec]:
    """Pick units by name glob and kind, keeping the backbone's execution order.

    Args:
        units: all prunable units of a backbone, in execution order.
        include: glob patterns (``fnmatch``) a unit name must match at least one of.
        exclude: glob patterns that remove a unit even if it is included.
        kinds: allowed kinds (see :data:`UNIT_KINDS`); ``None`` allows every kind.

    Raises:
        BackboneError: an unknown kind is named, or nothing is left after filtering.
    """
    if kinds is not None:
        unknown = sorted(set(kinds) - set(UNIT_KINDS))
        if unknown:
            raise BackboneError(
                f"unknown unit kind(s) {unknown}; known kinds are {sorted(UNIT_KINDS)}"
            )
    chosen = [
        unit
        for unit in units
        if any(fnmatch.fnmatchcase(unit.name, pattern) for pattern in include)
        and not any(fnmatch.fnmatchcase(unit.name, pattern) for pattern in exclude)
        and (kinds is None or unit.kind in kinds)
    ]
    if not chosen:
        available = ", ".join(f"{u.name} ({u.kind})" for u in units) or "none"
        raise BackboneError(
            f"no prunable unit matches include={list(include)}, exclude={list(exclude)}, "
            f"kinds={None if kinds is None else list(kinds)}; the backbone has: {available}"
        )
    return chosen
