"""Cost accounting: measured MACs per prunable unit, fixed MACs, and the MACs of masks and experts.

What is counted (the default convention ``"macs"``): multiply-accumulates of convolutions, linear
layers (including the per-block time-embedding projections) and the two attention matmuls
(``Q K^T`` and ``A V``), measured with :class:`torch.utils.flop_counter.FlopCounterMode` on what really
executes (CPU attention ``aten._scaled_dot_product_flash_attention_for_cpu`` is mapped explicitly).
Norms, activations, softmax and resampling are not counted. MACs are FLOPs / 2.

The ``"conv_linear"`` convention drops the attention matmuls; it is what BK-SDM and the ALTER paper's
Table 2 count. Every figure is per sample and per backbone forward (one sampler step without
classifier-free guidance) unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from .backbones.base import BackboneAdapter
from .exceptions import BudgetError
from .gating import GateController
from .units import UnitSpec

__all__ = [
    "MacsConvention",
    "CostProfile",
    "count_macs",
    "profile_costs",
    "independent_macs",
    "generation_macs",
    "macs_scale",
    "format_macs",
]

MacsConvention = Literal["macs", "conv_linear"]

_aten = torch.ops.aten


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args: Any, **kwargs: Any) -> int:
    """FLOPs of ``Q K^T`` and ``A V`` for the CPU fused attention kernel (FlopCounterMode misses it)."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


#: ops FlopCounterMode does not know by default but that do run (CPU fused attention)
_EXTRA_FORMULAS: dict[Any, Callable[..., int]] = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
}
_ATTENTION_OPS = {
    _aten._scaled_dot_product_flash_attention_for_cpu,
    _aten._scaled_dot_product_flash_attention,
    _aten._scaled_dot_product_efficient_attention,
    _aten._scaled_dot_product_cudnn_attention,
    _aten.bmm,  # diffusers' non-fused processors compute attention with (b)bmm; linears use (add)mm
    _aten.baddbmm,
}


def _counts_in_convention(op_counts: dict[Any, int], convention: MacsConvention) -> float:
    """MACs from a FlopCounterMode ``{op: flops}`` dict under ``convention``."""
    total = 0
    for op, flops in op_counts.items():
        packet = getattr(op, "overloadpacket", op)
        if convention == "conv_linear" and packet in _ATTENTION_OPS:
            continue
        total += flops
    return total / 2


def count_macs(fn: Callable[[], Any], convention: MacsConvention = "macs") -> tuple[float, dict[str, float]]:
    """Run ``fn`` once and count the MACs it executes.

    Returns:
        ``(total, per_module)``: total MACs, and MACs per module path as FlopCounterMode names it
        (``"<RootClass>.<module path>"``, nested modules included in their parents).
    """
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as counter:
        fn()
    per_module = {
        name: _counts_in_convention(ops, convention) for name, ops in counter.get_flop_counts().items()
    }
    return per_module.get("Global", 0.0), per_module


@dataclass(frozen=True)
class CostProfile:
    """Measured MACs of one backbone at one input shape.

    Args:
        unit_names: the selected units, in mask-column order.
        unit_macs: MACs of each unit, per sample and per forward.
        fixed_macs: MACs of everything that is never skipped (all units off), per sample and forward.
        convention: what was counted (see the module docstring).
        sample_shape: ``(channels, height, width)`` of one input sample.
        condition_length: text tokens used for cross-attention (1 for label-conditioned models).
    """

    unit_names: tuple[str, ...]
    unit_macs: tuple[float, ...]
    fixed_macs: float
    convention: MacsConvention
    sample_shape: tuple[int, int, int]
    condition_length: int

    @property
    def dense_macs(self) -> float:
        """MACs of the unpruned backbone, per sample and per forward."""
        return self.fixed_macs + sum(self.unit_macs)

    @property
    def min_share(self) -> float:
        """The smallest reachable MACs share (every selected unit skipped)."""
        return self.fixed_macs / self.dense_macs

    def unit_shares(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Each unit's MACs as a share of the dense backbone, shape ``(N_L,)`` float32."""
        return torch.tensor(self.unit_macs, dtype=torch.float32, device=device) / self.dense_macs

    def macs(self, keep: torch.Tensor) -> torch.Tensor:
        """MACs per sample and forward of keep masks, shape ``(..., N_L)`` -> ``(...)``."""
        unit_macs = torch.tensor(self.unit_macs, dtype=torch.float64, device=keep.device)
        return self.fixed_macs + keep.to(torch.float64) @ unit_macs

    def share(self, keep: torch.Tensor) -> torch.Tensor:
        """MACs share of the dense backbone of keep masks, shape ``(..., N_L)`` -> ``(...)``."""
        return self.macs(keep) / self.dense_macs

    def check_budget(self, target_share: float, where: str = "budget") -> None:
        """Reject a per-step MACs share that the selected units cannot reach.

        Raises:
            BudgetError: ``target_share`` is not in ``(fixed share, 1]``.
        """
        if not self.min_share < target_share <= 1.0:
            raise BudgetError(
                f"`{where}` = {target_share:.3f} of dense MACs cannot be reached: with the selected "
                f"{len(self.unit_names)} units the fixed cost alone is {self.min_share:.3f} of dense "
                f"({self.fixed_macs / 1e6:.2f} of {self.dense_macs / 1e6:.2f} MMACs); choose a share in "
                f"({self.min_share:.3f}, 1.0] or select more units"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        data = asdict(self)
        data["dense_macs"] = self.dense_macs
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            unit_names=tuple(data["unit_names"]),
            unit_macs=tuple(float(v) for v in data["unit_macs"]),
            fixed_macs=float(data["fixed_macs"]),
            convention=data["convention"],
            sample_shape=tuple(data["sample_shape"]),
            condition_length=int(data["condition_length"]),
        )


def profile_costs(
    adapter: BackboneAdapter,
    units: Sequence[UnitSpec],
    condition_length: int = 1,
    convention: MacsConvention = "macs",
    sample_shape: tuple[int, int, int] | None = None,
    gates: GateController | None = None,
) -> CostProfile:
    """Measure per-unit and fixed MACs of a backbone (works on the ``meta`` device too).

    The dense forward attributes each unit's MACs to it; a second forward with every selected unit
    hard-skipped measures the fixed cost. Both use batch size 1.

    Args:
        adapter: the backbone's adapter.
        units: the selected units.
        condition_length: text tokens for cross-attention backbones.
        convention: ``"macs"`` (conv + linear + attention matmuls) or ``"conv_linear"``.
        sample_shape: ``(channels, height, width)``; the model's native size when ``None``.
        gates: the backbone's gate controller, if its units (a superset of ``units``) are already gated.
    """
    model = adapter.model
    shape = tuple(sample_shape or adapter.sample_shape)
    parameter = next(model.parameters())
    sample = torch.zeros(1, *shape, device=parameter.device, dtype=parameter.dtype)
    timestep = torch.full((1,), 500, dtype=torch.long, device=parameter.device)
    condition = adapter.example_condition(1, condition_length)

    def forward() -> None:
        adapter.predict(sample, timestep, condition)

    dense, per_module = count_macs(forward, convention)
    root = type(model).__name__
    unit_macs = tuple(per_module.get(f"{root}.{unit.name}", 0.0) for unit in units)

    own_gates = gates is None
    controller = GateController(model, units) if own_gates else gates
    selected = {unit.name for unit in units}
    keep = torch.tensor([0.0 if unit.name in selected else 1.0 for unit in controller.units])
    try:
        with controller.apply(keep, mode="hard"):
            fixed, _ = count_macs(forward, convention)
    finally:
        if own_gates:
            controller.remove()
    if abs(dense - fixed - sum(unit_macs)) > 1e-6 * max(dense, 1.0):
        raise RuntimeError(
            f"MACs do not add up: dense {dense:.0f} != fixed {fixed:.0f} + units {sum(unit_macs):.0f}; "
            "the selected units overlap or are called more than once"
        )
    return CostProfile(
        unit_names=tuple(u.name for u in units),
        unit_macs=unit_macs,
        fixed_macs=fixed,
        convention=convention,
        sample_shape=shape,
        condition_length=condition_length,
    )


def independent_macs(
    adapter: BackboneAdapter,
    condition_length: int = 1,
    include_attention: bool = True,
    sample_shape: tuple[int, int, int] | None = None,
) -> float:
    """Whole-model MACs counted a second, independent way: ``thop`` module hooks.

    ``thop`` counts ``nn.Conv2d`` and ``nn.Linear`` with forward hooks on modules and
    ``F.scaled_dot_product_attention`` with a torch-function mode; norms, softmax and resampling are
    set to zero so the count follows :mod:`alternas.macs`'s convention. Batch size 1.
    """
    import thop
    from thop.vision.basic_hooks import zero_ops
    from torch import nn

    model = adapter.model
    shape = tuple(sample_shape or adapter.sample_shape)
    device = next(model.parameters()).device
    condition = adapter.example_condition(1, condition_length)

    class _Call(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = model

        def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
            return adapter.predict(sample, timestep, condition)

    zeroed = {
        nn.GroupNorm: zero_ops,
        nn.LayerNorm: zero_ops,
        nn.Softmax: zero_ops,
        nn.Upsample: zero_ops,
        nn.AvgPool2d: zero_ops,
        nn.Embedding: zero_ops,
        nn.Dropout: zero_ops,
    }
    sdpa = torch.nn.functional.scaled_dot_product_attention
    hooks = thop.profile.__globals__["functional_hooks"]
    saved = hooks.pop(sdpa, None) if not include_attention else None
    was_training = model.training
    try:
        macs, _ = thop.profile(
            _Call(),
            inputs=(torch.zeros(1, *shape, device=device), torch.full((1,), 500, device=device)),
            custom_ops=zeroed,
            verbose=False,
        )
    finally:
        if saved is not None:
            hooks[sdpa] = saved
        model.train(was_training)
    return float(macs)


def generation_macs(per_step_macs: Sequence[float], guidance: bool) -> float:
    """Total MACs of generating one sample: the sum over sampler steps, x2 with classifier-free guidance.

    Args:
        per_step_macs: MACs of the backbone forward at each sampler step (per sample, no guidance).
        guidance: whether classifier-free guidance doubles every step (conditional + unconditional).
    """
    return float(sum(per_step_macs)) * (2.0 if guidance else 1.0)


_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def macs_scale(value: float) -> tuple[float, str]:
    """``(divisor, SI prefix)`` that shows ``value`` MACs readably, e.g. ``(1e6, "M")``."""
    for divisor, prefix in _PREFIXES:
        if abs(value) >= divisor:
            return divisor, prefix
    return 1.0, ""


def format_macs(value: float | None, spec: str = ".3g", unit: str = "MACs", separator: str = " ") -> str:
    """MACs with an SI prefix: ``44890112.0`` -> ``"44.9 MMACs"``; ``None`` -> ``"-"``.

    Args:
        value: a MACs count.
        spec: format spec of the scaled number (``".1f"`` -> ``"44.9"``, ``".3g"`` -> ``"44.9"``).
        unit: written after the prefix (``""`` for ``"44.9 M"``).
        separator: between the number and the prefix (``""`` with ``unit=""`` for ``"44.9M"``).
    """
    if value is None:
        return "-"
    divisor, prefix = macs_scale(value)
    return f"{value / divisor:{spec}}{separator}{prefix}{unit}"
