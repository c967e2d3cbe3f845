"""Per-sample layer gating: soft masks for the hypernetwork, hard skips that really save compute.

:class:`GateController` replaces the ``forward`` of every selected unit with a gate (the module keeps its
parameters and state-dict keys). Outside :meth:`GateController.apply` a gate calls the unit unchanged.
Inside it, for unit ``l`` and sample ``b`` with mask value ``m = masks[b, l]``:

* ``soft``: ``y = (1 - m) * x + m * f(x)``, differentiable in ``m`` (the unit always runs);
* ``hard``: ``m`` is 0/1; a unit whose mask is 0 for every sample is not executed at all, one whose
  mask is 1 for every sample runs on the whole batch, and a mixed column runs the unit only on the
  samples that keep it (gather), writing the results back into the skip output (scatter).

Up-block resnets consume their skip-connection tensor either way: the enclosing block pops and
concatenates it before calling the resnet, and the skip output drops the concatenated channels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import nn

from .units import UnitSpec

__all__ = ["GateController", "GateMode"]

GateMode = Literal["soft", "hard"]


class GateController:
    """Owns the gates of one backbone and the masks they apply.

    Args:
        model (`torch.nn.Module`): the backbone (a diffusers model); its units are gated in place.
        units (sequence of `UnitSpec`): the units to gate, in order; mask column ``l`` is ``units[l]``.
    """

    def __init__(self, model: nn.Module, units: Sequence[UnitSpec]) -> None:
        self.model = model
        self.units = list(units)
        self._state: _MaskState | None = None
        self._gates: list[_UnitGate] = []
        modules = dict(model.named_modules())
        for index, unit in enumerate(self.units):
            module = modules[unit.name]
            if isinstance(module.__dict__.get("forward"), _UnitGate):
                raise RuntimeError(f"unit `{unit.name}` is already gated by another GateController")
            gate = _UnitGate(self, index, unit, module)
            module.forward = gate
            self._gates.append(gate)

    @property
    def num_units(self) -> int:
        """Number of gated units ``N_L`` (the width of every mask)."""
        return len(self.units)

    @contextmanager
    def apply(self, masks: torch.Tensor, mode: GateMode = "hard") -> Iterator[None]:
        """Gate every forward pass run inside this context.

        Args:
            masks (`torch.Tensor` of shape `(N_L,)` or `(batch, N_L)`): keep values per unit, either one
                row for the whole batch or one row per sample. In ``hard`` mode values must be 0 or 1.
            mode (`"soft"` or `"hard"`): see the module docstring.
        """
        if self._state is not None:
            raise RuntimeError("GateController.apply() contexts cannot be nested")
        if masks.shape[-1] != self.num_units or masks.dim() not in (1, 2):
            raise ValueError(
                f"masks must have shape (N_L,) or (batch, N_L) with N_L={self.num_units}, "
                f"got {tuple(masks.shape)}"
            )
        self._state = _SoftState(masks) if mode == "soft" else _HardState(masks)
        try:
            yield
        finally:
            self._state = None

    def remove(self) -> None:
        """Restore the original ``forward`` of every gated unit."""
        for gate in self._gates:
            if gate.module.__dict__.get("forward") is gate:
                del gate.module.forward
        self._gates.clear()


class _UnitGate:
    """Replaces one unit's ``forward``; defers to the controller's current mask state."""

    def __init__(self, controller: GateController, index: int, unit: UnitSpec, module: nn.Module):
        self.controller = controller
        self.index = index
        self.unit = unit
        self.module = module
        self.original = module.forward  # the bound class method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        state = self.controller._state
        if state is None:
            return self.original(*args, **kwargs)
        return state.run(self, args, kwargs)


class _MaskState:
    """How the gates of one ``apply`` context treat their units."""

    def run(self, gate: _UnitGate, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError


class _SoftState(_MaskState):
    def __init__(self, masks: torch.Tensor) -> None:
        self.masks = masks

    def run(self, gate: _UnitGate, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        unit = gate.unit
        x = unit.identity(unit.hidden_input(args, kwargs))
        y = unit.unpack(gate.original(*args, **kwargs))
        m = self.masks[..., gate.index].to(device=y.device, dtype=y.dtype)
        if m.dim() == 1:  # (B,) -> (B, 1, ..., 1)
            m = m.view(-1, *([1] * (y.dim() - 1)))
        return unit.pack((1 - m) * x + m * y, kwargs)


class _HardState(_MaskState):
    def __init__(self, masks: torch.Tensor) -> None:
        keep = masks.detach().to("cpu") > 0.5  # one device sync per forward, not one per unit
        self.per_sample = keep.dim() == 2
        self.keep_all: list[bool] = []
        self.keep_none: list[bool] = []
        self.kept_rows: list[torch.Tensor | None] = []
        columns = keep.t() if self.per_sample else keep.unsqueeze(1)  # (N_L, B) or (N_L, 1)
        for column in columns:
            self.keep_all.append(bool(column.all()))
            self.keep_none.append(not bool(column.any()))
            partial = self.per_sample and not (self.keep_all[-1] or self.keep_none[-1])
            self.kept_rows.append(column.nonzero().flatten().to(masks.device) if partial else None)

    def run(self, gate: _UnitGate, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        unit, index = gate.unit, gate.index
        if self.keep_all[index]:
            return gate.original(*args, **kwargs)
        hidden = unit.hidden_input(args, kwargs)
        skipped = unit.identity(hidden)
        if self.keep_none[index]:
            return unit.pack(skipped, kwargs)
        rows = self.kept_rows[index]
        batch = hidden.shape[0]
        sub_args = _take_rows(args, rows, batch)
        sub_kwargs = _take_rows(kwargs, rows, batch)
        kept = unit.unpack(gate.original(*sub_args, **sub_kwargs))
        dtype = torch.promote_types(skipped.dtype, kept.dtype)
        return unit.pack(skipped.to(dtype).index_copy(0, rows.to(kept.device), kept.to(dtype)), kwargs)


def _take_rows(value: Any, rows: torch.Tensor, batch: int) -> Any:
    """Select ``rows`` of every per-sample tensor (first dim == ``batch``) inside ``value``."""
    if isinstance(value, torch.Tensor):
        if value.dim() > 0 and value.shape[0] == batch:
            return value.index_select(0, rows.to(value.device))
        return value
    if isinstance(value, dict):
        return {key: _take_rows(item, rows, batch) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_take_rows(item, rows, batch) for item in value)
    return value
