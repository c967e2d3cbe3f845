"""Timestep routing tables: fixed partitions, and the intervals a routing forms."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["manual_assignment", "routing_intervals", "intervals_per_expert"]


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



def intervals_per_expert(assignment: torch.Tensor, num_experts: int) -> list[int]:
    """How many contiguous timestep intervals each expert serves (0 for an unused expert).

    Args:
        assignment (`torch.Tensor` of shape `(T,)`): expert of every timestep, in timestep order.
        num_experts: ``N_e``.
    """
    starts = torch.ones_like(assignment, dtype=torch.bool)
    starts[1:] = assignment[1:] != assignment[:-1]
    return torch.bincount(assignment[starts].cpu(), minlength=num_experts).tolist()
