"""The ALTER hypernetwork: an expert generator (which units each expert keeps) and a temporal router.

Shapes: ``N_e`` experts, ``N_L`` units, ``T`` training timesteps, ``D`` width of the backbone's
timestep projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import HypernetConfig

__all__ = [
    "ExpertGenerator",
    "TemporalRouter",
    "IntervalRouter",
    "HyperNetwork",
    "HypernetSample",
    "gumbel_sigmoid",
    "gumbel_softmax",
]


def gumbel_sigmoid(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Straight-through Gumbel-sigmoid: forward 0/1 (threshold 0.5), backward the relaxed gradient.

    Args:
        logits (`torch.Tensor` of any shape): keep logits.
        temperature: relaxation temperature.
        generator: CPU generator for the logistic noise.
    """
    uniform = torch.rand(logits.shape, generator=generator).clamp_(1e-6, 1 - 1e-6).to(logits.device)
    noise = torch.log(uniform) - torch.log1p(-uniform)  # logistic = difference of two Gumbels
    soft = torch.sigmoid((logits + noise) / temperature)
    hard = (soft > 0.5).to(soft.dtype)
    return hard - soft.detach() + soft


def gumbel_softmax(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Straight-through Gumbel-softmax over the last dim: forward one-hot, backward relaxed."""
    uniform = torch.rand(logits.shape, generator=generator).clamp_(1e-6, 1 - 1e-6).to(logits.device)
    gumbel = -torch.log(-torch.log(uniform))
    soft = torch.softmax((logits + gumbel) / temperature, dim=-1)
    hard = F.one_hot(soft.argmax(dim=-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


class ExpertGenerator(nn.Module):
    """G: frozen orthogonal codes ``Z`` of shape ``(N_e, N_L, d)`` -> MLP -> unit logits ``(N_e, N_L)``.

    Args:
        num_experts: ``N_e``.
        num_units: ``N_L``.
        config: widths, temperature and the all-on initial offset.
        seed: seed of the orthogonal codes.
    """

    def __init__(self, num_experts: int, num_units: int, config: HypernetConfig, seed: int = 0) -> None:
        super().__init__()
        codes = torch.empty(num_experts * num_units, config.code_dim)
        nn.init.orthogonal_(codes, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("codes", codes.view(num_experts, num_units, config.code_dim))
        self.mlp = nn.Sequential(
            nn.LayerNorm(config.code_dim),
            nn.Linear(config.code_dim, config.hidden_dim),
            nn.LayerNorm(config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, 1),
        )
        self.init_offset = config.init_offset

    def logits(self) -> torch.Tensor:
        """Keep logits, shape ``(N_e, N_L)``; ``> 0`` means keep."""
        return self.mlp(self.codes).squeeze(-1) + self.init_offset


class TemporalRouter(nn.Module):
    """R: projected timestep ``(T, D)`` -> MLP -> expert logits ``(T, N_e)``."""

    def __init__(self, time_dim: int, num_experts: int, hidden_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(time_dim, hidden_dim),
            nn.LayerNorm(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, num_experts),
        )

    def forward(self, time_features: torch.Tensor) -> torch.Tensor:
        return self.mlp(time_features)


class IntervalRouter(nn.Module):
    """Routing that is contiguous by construction: ``N_e - 1`` learnable boundaries split the training
    timesteps ``[0, T)`` into ``N_e`` intervals, and expert ``e`` serves the ``e``-th (expert 0 the least
    noisy timesteps, as in :func:`~alternas.routing.manual_assignment`).

    The interval widths are ``softmax(width_logits)`` (shares of ``T``, zero logits = equal splits), the
    boundaries their cumulative sums ``b_e``. A timestep at position ``u = t / T`` belongs softly to
    expert ``e`` with ``p[t, e] = sigmoid((u - b_(e-1)) / w) - sigmoid((u - b_e) / w)`` (``b_(-1) = -inf``,
    ``b_(N_e - 1) = +inf``, ``w`` the edge width), which sums to 1 over the experts; the hard routing
    is the interval that contains ``u``. Boundaries learn through the timesteps near them.

    Args:
        num_experts: ``N_e``.
        num_train_timesteps: ``T``.
        edge_width: ``w``, the width of a soft edge as a share of ``T``.
    """

    def __init__(self, num_experts: int, num_train_timesteps: int, edge_width: float) -> None:
        super().__init__()
        self.width_logits = nn.Parameter(torch.zeros(num_experts))
        positions = torch.arange(num_train_timesteps, dtype=torch.float32) / num_train_timesteps  # (T,)
        self.register_buffer("positions", positions)
        self.edge_width = edge_width

    def boundaries(self) -> torch.Tensor:
        """Inner boundaries ``b_0 < ... < b_(N_e - 2)`` as shares of ``T``, shape ``(N_e - 1,)``."""
        return torch.cumsum(torch.softmax(self.width_logits, dim=0), dim=0)[:-1]

    def probs(self) -> torch.Tensor:
        """Soft assignment ``p``, shape ``(T, N_e)``; rows sum to 1."""
        past = (self.positions[:, None] - self.boundaries()[None, :]) / self.edge_width
        inside = torch.sigmoid(past)  # (T, N_e - 1): past each inner boundary
        ones = torch.ones_like(self.positions)[:, None]
        zeros = torch.zeros_like(self.positions)[:, None]
        # past the lower edge of interval e minus past its upper edge
        return torch.cat([ones, inside], dim=1) - torch.cat([inside, zeros], dim=1)

    def assignment(self) -> torch.Tensor:
        """Hard routing: the interval holding each timestep, shape ``(T,)`` long."""
        return torch.bucketize(self.positions, self.boundaries().detach(), right=True)


@dataclass
class HypernetSample:
    """One stochastic draw of the hypernetwork.

    Attributes:
        unit_masks: straight-through keep masks, shape ``(N_e, N_L)``, forward values 0/1.
        routing: straight-through one-hot routing, shape ``(T, N_e)``.
        router_probs: router softmax without noise, shape ``(T, N_e)``; ``None`` for fixed routing.
    """

    unit_masks: torch.Tensor
    routing: torch.Tensor
    router_probs: torch.Tensor | None

    def masks_at(self, timestep_indices: torch.Tensor) -> torch.Tensor:
        """Per-timestep keep masks ``M[t] = sum_e s[t, e] m[e]``, shape ``(len(indices), N_L)``."""
        return self.routing[timestep_indices] @ self.unit_masks


class HyperNetwork(nn.Module):
    """Expert generator plus (for ``learned`` routing) temporal router.

    With ``config.warm_start_steps > 0`` the experts begin as one shared expert: a one-expert generator
    built first from ``seed`` (so it is a Static run's, draw for draw) whose mask serves every timestep,
    until :meth:`grow` starts all ``N_e`` experts from its logits. The grown experts' logits are
    ``anchor + (G(Z) - G_0(Z))``: the shared logits at growth plus what the ``N_e``-expert generator has
    learned since (``G_0(Z)`` its output at growth), so they start exactly equal and then learn apart.

    Args:
        num_experts: ``N_e``.
        num_units: ``N_L``.
        time_dim: width ``D`` of the backbone's timestep projection.
        num_train_timesteps: ``T``, the length of the training noise schedule.
        fixed_assignment (`torch.Tensor` of shape `(T,)`, *optional*): expert per training timestep for
            ``manual``/``static`` routing; ``None`` for a learned router (``config.router`` says which).
        config: hypernetwork settings.
        seed: seed of the frozen codes and the initial weights.
    """

    def __init__(
        self,
        num_experts: int,
        num_units: int,
        time_dim: int,
        num_train_timesteps: int,
        fixed_assignment: torch.Tensor | None,
        config: HypernetConfig,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.num_train_timesteps = num_train_timesteps
        self.temperature = config.temperature
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.shared: ExpertGenerator | None = None
            if config.warm_start_steps > 0:
                self.shared = ExpertGenerator(1, num_units, config, seed=seed)
                self.register_buffer("grown", torch.tensor(False))
                self.register_buffer("anchor", torch.zeros(num_experts, num_units))  # shared logits at growth
                self.register_buffer("reference", torch.zeros(num_experts, num_units))  # G(Z) at growth
            self.generator = ExpertGenerator(num_experts, num_units, config, seed=seed)
            self.router: TemporalRouter | IntervalRouter | None = None
            if fixed_assignment is None and config.router == "mlp":
                self.router = TemporalRouter(time_dim, num_experts, config.router_hidden_dim)
            elif fixed_assignment is None:
                self.router = IntervalRouter(num_experts, num_train_timesteps, config.edge_width)
        if fixed_assignment is not None:
            self.register_buffer("fixed_assignment", fixed_assignment.long().clone())
        else:
            self.fixed_assignment = None

    @property
    def learns_routing(self) -> bool:
        """Whether the routing is learned (ALTER) rather than fixed (manual / static)."""
        return self.router is not None

    @property
    def sharing(self) -> bool:
        """Whether the experts are still one shared expert (see ``warm_start_steps``)."""
        return self.shared is not None and not bool(self.grown)

    @torch.no_grad()
    def grow(self) -> None:
        """End the shared phase: every expert starts from the shared expert's logits."""
        self.anchor.copy_(self.shared.logits().expand_as(self.anchor))
        self.reference.copy_(self.generator.logits())
        self.grown.fill_(True)

    def unit_logits(self) -> torch.Tensor:
        """Keep logits ``(N_e, N_L)``; ``(1, N_L)`` while the experts are shared."""
        if self.shared is None:
            return self.generator.logits()
        if self.sharing:
            return self.shared.logits()
        return self.anchor + (self.generator.logits() - self.reference)

    def sample(self, time_features: torch.Tensor, generator: torch.Generator) -> HypernetSample:
        """Draw straight-through masks and routing with Gumbel noise.

        Args:
            time_features (`torch.Tensor` of shape `(T, D)`): projected training timesteps.
            generator: CPU generator for the Gumbel noise.
        """
        unit_masks = gumbel_sigmoid(self.unit_logits(), self.temperature, generator)  # (N_e, N_L)
        if self.sharing:  # one expert for every timestep
            routing = torch.ones(self.num_train_timesteps, 1, device=unit_masks.device)
            return HypernetSample(unit_masks, routing, None)
        if self.router is None:
            routing = F.one_hot(self.fixed_assignment, self.num_experts).to(unit_masks.dtype)
            return HypernetSample(unit_masks, routing, None)
        if isinstance(self.router, IntervalRouter):  # straight-through: forward the hard intervals
            probs = self.router.probs()  # (T, N_e)
            hard = F.one_hot(self.router.assignment(), self.num_experts).to(probs.dtype)
            return HypernetSample(unit_masks, hard - probs.detach() + probs, probs)
        logits = self.router(time_features)  # (T, N_e)
        routing = gumbel_softmax(logits, self.temperature, generator)
        return HypernetSample(unit_masks, routing, torch.softmax(logits, dim=-1))

    def exported_unit_masks(self) -> torch.Tensor:
        """The noise-free masks that hardening exports (``logits > 0``), shape ``(N_e, N_L)``, with the
        straight-through gradient of ``sigmoid(logits)``: the budget is charged on what will be kept,
        not on a noisy draw (near-zero logits keep more in a draw than after thresholding)."""
        probs = torch.sigmoid(self.unit_logits())
        return (probs > 0.5).to(probs.dtype) - probs.detach() + probs

    @torch.no_grad()
    def harden(self, time_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Deterministic export: thresholded logits and argmax routing, no noise.

        Returns:
            ``(keep, assignment)``: keep of shape ``(N_e, N_L)`` (float 0/1) and the expert index of
            every training timestep, shape ``(T,)`` long.
        """
        keep = (self.unit_logits() > 0).float()
        if self.sharing:
            return keep, torch.zeros(self.num_train_timesteps, dtype=torch.long, device=keep.device)
        if self.router is None:
            return keep, self.fixed_assignment.clone()
        if isinstance(self.router, IntervalRouter):
            return keep, self.router.assignment()
        return keep, self.router(time_features).argmax(dim=-1)
