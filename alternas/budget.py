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

    def settle(
        self,
        keep: torch.Tensor,
        assignment: torch.Tensor,
        logits: torch.Tensor,
        target: float | None = None,
        floor_only: bool = False,
    ) -> torch.Tensor:
        """The hard table moved onto a target share: ``keep`` with its share within ``budget.tolerance`` of
        ``target`` (default ``budget.macs_share``) wherever moving single units, or one swap, can get it
        there; with ``floor_only`` only a table more than the tolerance below ``target`` is moved, up to it.

        Each (expert, unit) pair adds ``unit share x share of the sampler's steps the expert serves``.
        First, greedily, while the table is over the band, the kept pair with the lowest keep logit whose
        removal does not fall below the band is dropped (under the band: the dropped pair with the highest
        logit that does not rise above it is kept again). If no such step reaches the band (single units
        are too coarse, as with one static expert), the one swap (drop one pair, keep another) that lands
        in the band at the least loss of logit is made. Deterministic in its inputs, so a resumed run
        settles on the same table.

        Args:
            keep (`torch.Tensor` of shape `(N_e, N_L)`): thresholded keep masks (0/1).
            assignment (`torch.Tensor` of shape `(T,)`): the expert of every training timestep.
            logits (`torch.Tensor` of shape `(N_e, N_L)` or `(1, N_L)`): the keep logits behind ``keep``.
            target: the share to settle on (MACs per sampler step over dense); ``None``: ``budget.macs_share``.
            floor_only: the band has no upper edge: the floor the trainer holds the table above while the
                hypernetwork trains, so the table the backbone trains with never falls through the budget.

        Returns:
            The settled keep masks, shape ``(N_e, N_L)``.
        """
        target = self.config.macs_share if target is None else target
        low = target - self.config.tolerance
        high = torch.inf if floor_only else target + self.config.tolerance
        index = self.sampler_index.cpu()
        served = torch.bincount(assignment.cpu()[index], minlength=keep.shape[0]).double()
        unit_shares = torch.tensor(self.costs.unit_macs, dtype=torch.float64) / self.costs.dense_macs  # (N_L,)
        adds = ((served / len(self.sampler_index))[:, None] * unit_shares[None, :]).flatten()  # (N_e * N_L,)
        logits = logits.detach().cpu().double().expand(keep.shape).flatten()
        settled = keep.detach().cpu().clone().flatten()
        charged = adds > 0  # pairs of experts that serve no sampler step cost nothing and are left alone

        def share() -> float:  # the table's share, as `hard_share` computes it
            return self.costs.min_share + float(adds @ settled.double())

        def in_band(value: torch.Tensor) -> torch.Tensor:
            return (value >= low) & (value <= high)

        current = share()
        while not in_band(torch.tensor(current)):
            over = current > high
            sign = -1.0 if over else 1.0  # over: drop a kept pair; under: keep a dropped one
            after = current + sign * adds
            short = after > high if over else after < low  # not there yet
            movable = (settled == (1.0 if over else 0.0)) & charged & (in_band(after) | short)
            if not movable.any():
                break
            pair = int(torch.where(movable, sign * logits, torch.tensor(-torch.inf, dtype=logits.dtype)).argmax())
            settled[pair] = 0.0 if over else 1.0
            current = share()
        if not in_band(torch.tensor(current)):
            kept, dropped = (settled == 1.0) & charged, (settled == 0.0) & charged
            after = current - adds[:, None] + adds[None, :]  # [p, q]: drop p, keep q
            lands = kept[:, None] & dropped[None, :] & in_band(after)
            if lands.any():
                loss = logits[:, None] - logits[None, :]  # logit given up by the swap
                drop, add = divmod(int(torch.where(lands, loss, torch.tensor(torch.inf, dtype=loss.dtype)).argmin()),
                                   len(adds))
                settled[drop], settled[add] = 0.0, 1.0
        return settled.view_as(keep).to(keep.device)
