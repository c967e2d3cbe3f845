"""The compute budget over training: the MACs share the hypernetwork aims at, and the share it reaches.

Shares are MACs per sampler step as a share of the dense backbone, averaged over the timesteps the
evaluation sampler visits (``S`` of them).
"""

from __future__ import annotations

import torch

from .config import BudgetConfig
from .macs import CostProfile

__all__ = ["BudgetSchedule"]


class BudgetSchedule:
    """The hypernetwork's MACs-share target per iteration and the shares of expert tables.

    Args:
        config: the ``budget`` section (final share, warm-up).
        hypernet_steps: ``train.hypernet_steps``, the iterations that train the hypernetwork.
        costs: per-unit MACs of the backbone.
        sampler_index (`torch.Tensor` of shape `(S,)`): the training timesteps the sampler visits.
    """

    def __init__(
        self, config: BudgetConfig, hypernet_steps: int, costs: CostProfile, sampler_index: torch.Tensor
    ) -> None:
        self.config = config
        self.hypernet_steps = hypernet_steps
        self.costs = costs
        self.sampler_index = sampler_index
        self.unit_shares = costs.unit_shares(sampler_index.device)  # (N_L,)

    def target(self, step: int) -> float:
        """The target at iteration ``step``: a cubic from 1.0 (dense) down to ``macs_share`` over the
        first ``warmup_share`` of the hypernetwork's iterations, so the masks shrink while the backbone
        adapts instead of dropping to the budget at once."""
        final = self.config.macs_share
        warmup = self.config.warmup_share * self.hypernet_steps
        remaining = 1.0 - min(1.0, step / warmup) if warmup > 0 else 0.0
        return final + (1.0 - final) * remaining**3

    def soft_share(self, routing: torch.Tensor, unit_masks: torch.Tensor) -> torch.Tensor:
        """Differentiable share of a hypernetwork draw, a scalar.

        Args:
            routing (`torch.Tensor` of shape `(T, N_e)`): (straight-through) one-hot routing.
            unit_masks (`torch.Tensor` of shape `(N_e, N_L)`): keep masks of the experts.
        """
        step_masks = routing[self.sampler_index] @ unit_masks  # (S, N_L)
        return self.costs.min_share + self.unit_shares @ step_masks.mean(0)

    def hard_share(self, keep: torch.Tensor, assignment: torch.Tensor) -> float:
        """Share of a hard expert table: ``keep`` of shape ``(N_e, N_L)``, ``assignment`` of shape ``(T,)``."""
        step_masks = keep[assignment[self.sampler_index]]  # (S, N_L)
        return float(self.costs.share(step_masks.cpu()).mean())
