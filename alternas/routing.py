"""Timestep routing: which temporal expert serves each training timestep.

:class:`RoutingTable` is the one representation of a routing: the expert of every training timestep
``0 .. T-1``. It is built from a hardened router (a tensor) or from intervals (a plan, an exported
model's config), converts back to intervals, and looks up the expert of each sample of a batch.
:class:`ExpertRouter` adds the experts' keep masks, so a batch of timesteps becomes gate masks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

__all__ = ["RoutingTable", "ExpertRouter", "manual_assignment", "routing_intervals", "MAX_TRAIN_TIMESTEPS"]

#: most training timesteps a routing table may cover (diffusion models use about 1000)
MAX_TRAIN_TIMESTEPS = 100_000


def manual_assignment(
    num_experts: int, num_train_timesteps: int, boundaries: Sequence[int] | None = None
) -> torch.Tensor:
    """Expert of every training timestep for fixed contiguous intervals.

    Expert ``e`` serves timesteps ``[b_(e-1), b_e)`` with ``b_(-1) = 0`` and ``b_(N_e - 1) = T``, so
    expert 0 serves the least noisy (last sampled) steps.

    Args:
        num_experts: ``N_e`` (1 gives the static single-expert table).
        num_train_timesteps: ``T``, the length of the training noise schedule.
        boundaries: ``N_e - 1`` increasing timesteps; ``None`` splits ``[0, T)`` into equal parts.

    Returns:
        `torch.Tensor` of shape `(T,)`, dtype long.
    """
    if boundaries is None:
        boundaries = [round(num_train_timesteps * (e + 1) / num_experts) for e in range(num_experts - 1)]
    if len(boundaries) != num_experts - 1:
        raise ValueError(f"need {num_experts - 1} boundaries, got {len(boundaries)}")
    timesteps = torch.arange(num_train_timesteps)
    return torch.bucketize(timesteps, torch.tensor(list(boundaries), dtype=torch.long), right=True)


def routing_intervals(timesteps: Sequence[int], experts: Sequence[int]) -> list[dict[str, int]]:
    """Group consecutive timesteps served by the same expert.

    Args:
        timesteps: timesteps in the order they are visited (a sampler goes from high to low).
        experts: the expert serving each timestep.

    Returns:
        One ``{"expert", "first", "last", "steps"}`` dict per run: ``first``/``last`` are the first
        and last timestep of the run in visiting order, ``steps`` its length.
    """
    intervals: list[dict[str, int]] = []
    for timestep, expert in zip(timesteps, experts):
        if intervals and intervals[-1]["expert"] == int(expert):
            intervals[-1]["last"] = int(timestep)
            intervals[-1]["steps"] += 1
        else:
            intervals.append({"expert": int(expert), "first": int(timestep), "last": int(timestep), "steps": 1})
    return intervals


class RoutingTable:
    """The expert serving every training timestep ``0 .. T-1``.

    Args:
        experts (`torch.Tensor` of shape `(T,)`): expert index of each training timestep, in timestep
            order (copied to the CPU as long).
        num_experts: ``N_e``; every index must lie in ``[0, N_e)``.

    Raises:
        ValueError: the table is empty or routes to an expert outside ``[0, N_e)``.
    """

    def __init__(self, experts: torch.Tensor, num_experts: int) -> None:
        experts = experts.detach().flatten().long().cpu()
        if len(experts) == 0:
            raise ValueError("a routing table needs at least one training timestep")
        outside = experts[(experts < 0) | (experts >= num_experts)]
        if len(outside):
            raise ValueError(f"routes to expert {int(outside[0])}, but there are {num_experts} experts")
        self.experts = experts  # (T,) long, CPU
        self.num_experts = num_experts

    @classmethod
    def from_intervals(
        cls,
        intervals: Sequence[Mapping[str, int]],
        num_experts: int,
        num_train_timesteps: int | None = None,
    ) -> RoutingTable:
        """Build a table from ``{"expert", "first", "last"}`` intervals (``steps`` and other keys ignored).

        The intervals, in any order and either direction (``first`` above or below ``last``), must cover
        ``0 .. T-1`` exactly once, with ``T`` = ``num_train_timesteps`` or, when ``None``, one past the
        highest timestep they name.

        Raises:
            ValueError: a malformed interval, an expert index outside ``[0, N_e)``, an overlap, a gap,
                or timesteps outside ``0 .. T-1``; the message says which.
        """
        try:
            spans = [(sorted((int(i["first"]), int(i["last"]))), int(i["expert"])) for i in intervals]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"must be a list of {{expert, first, last}} intervals: {error!r}") from error
        if not spans:
            raise ValueError("is empty; it must cover every training timestep")
        length = max(high for (_, high), _ in spans) + 1
        if num_train_timesteps is not None and length > num_train_timesteps:
            raise ValueError(
                f"reaches timestep {length - 1}, past the last training timestep {num_train_timesteps - 1}"
            )
        length = num_train_timesteps or length
        if length > MAX_TRAIN_TIMESTEPS:  # checked before the table is allocated
            raise ValueError(
                f"reaches timestep {length - 1}; a model has at most {MAX_TRAIN_TIMESTEPS} training timesteps"
            )
        table = torch.full((length,), -1, dtype=torch.long)
        for (low, high), expert in spans:
            if not 0 <= expert < num_experts:
                raise ValueError(f"routes to expert {expert}, but there are {num_experts} experts")
            if low < 0 or bool((table[low : high + 1] >= 0).any()):
                raise ValueError(f"interval [{low}, {high}] overlaps another one or lies below timestep 0")
            table[low : high + 1] = expert
        missing = (table < 0).nonzero().flatten()
        if len(missing):
            raise ValueError(
                f"leaves {len(missing)} training timesteps without an expert (first: {int(missing[0])}); "
                f"the intervals must cover 0..{length - 1}"
            )
        return cls(table, num_experts)

    @property
    def num_train_timesteps(self) -> int:
        """``T``, the number of training timesteps the table covers."""
        return len(self.experts)

    def to_intervals(self) -> list[dict[str, int]]:
        """The table as runs of one expert, in visiting order (``T-1`` down to 0); see :func:`routing_intervals`."""
        order = list(range(self.num_train_timesteps - 1, -1, -1))
        return routing_intervals(order, self.experts.flip(0).tolist())

    def lookup(self, timesteps: float | int | Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Expert of each timestep, per sample.

        Args:
            timesteps: a scalar, a sequence or a tensor of any shape (e.g. a batch's `(B,)`); values are
                rounded to the nearest training timestep and clamped to ``[0, T-1]``.

        Returns:
            `torch.Tensor` of shape `(numel,)`, dtype long, on the CPU.
        """
        values = torch.as_tensor(timesteps).detach().flatten().float().cpu()
        index = values.round().long().clamp(0, self.num_train_timesteps - 1)
        return self.experts[index]

    def intervals_per_expert(self) -> list[int]:
        """How many contiguous timestep intervals each expert serves (0 for an unused expert)."""
        starts = torch.ones_like(self.experts, dtype=torch.bool)
        starts[1:] = self.experts[1:] != self.experts[:-1]
        return torch.bincount(self.experts[starts], minlength=self.num_experts).tolist()


class ExpertRouter:
    """Keep masks of the experts serving a batch of timesteps.

    Args:
        keep (`torch.Tensor` of shape `(N_e, N_L)`): 0/1 keep matrix, one row per expert.
        table: the routing table (its ``num_experts`` must be ``N_e``).
    """

    def __init__(self, keep: torch.Tensor, table: RoutingTable) -> None:
        if keep.shape[0] != table.num_experts:
            raise ValueError(f"the keep matrix has {keep.shape[0]} experts, the routing table {table.num_experts}")
        self.keep = keep.detach().float().cpu()  # (N_e, N_L)
        self.table = table

    def masks_for(self, timesteps: float | int | torch.Tensor) -> torch.Tensor:
        """Keep masks for ``timesteps``: one row `(N_L,)` when every sample has the same expert, else one
        row per sample `(B, N_L)` (per-sample routing)."""
        experts = self.table.lookup(timesteps)  # (B,)
        if bool((experts == experts[0]).all()):
            return self.keep[experts[0]]  # (N_L,)
        return self.keep[experts]  # (B, N_L)
