"""``ExpertPlan``: the experts (which units each keeps), the routing table and their measured MACs.

It is the central artefact of alternas: a trial ends by writing one, the report ranks them, and an
export ships one beside the fine-tuned weights. It is a readable YAML/JSON file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from ._atomic import atomic_write_text
from ._readers import read_model
from .macs import CostProfile, generation_macs
from .metrics import TrialMetrics
from .routing import RoutingTable, routing_intervals
from .units import UnitSpec

__all__ = ["ExpertPlan", "ExpertInfo", "UnitInfo", "Interval", "SamplerRouting", "MacsSummary"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitInfo(_Model):
    """A prunable unit and its MACs per sample and forward."""

    name: str
    kind: str
    macs: float


class ExpertInfo(_Model):
    """One temporal expert."""

    index: int
    keep: list[str] = Field(description="units this expert runs")
    skip: list[str] = Field(description="units this expert skips")
    macs_per_step: float = Field(description="MACs of one forward, per sample, without guidance")
    macs_share: float = Field(description="macs_per_step as a share of the dense backbone")
    sampler_steps: int = Field(description="how many sampler steps this expert serves")


class Interval(_Model):
    """A run of consecutive timesteps (in visiting order, high to low) served by one expert."""

    expert: int
    first: int
    last: int
    steps: int


class SamplerRouting(_Model):
    """Routing at the sampler's actual timesteps."""

    scheduler: str
    steps: int
    timesteps: list[int] = Field(description="visited timesteps, in order")
    experts: list[int] = Field(description="expert serving each visited timestep")
    intervals: list[Interval]


class MacsSummary(_Model):
    """Measured MACs of the plan and of the dense backbone (per sample)."""

    convention: str
    dense_per_step: float
    fixed_per_step: float
    mean_per_step: float = Field(description="mean over the sampler's steps of the routed expert's MACs")
    share: float = Field(description="mean_per_step / dense_per_step")
    guidance: bool = Field(description="whether classifier-free guidance doubles every step")
    generation_total: float = Field(description="sum over sampler steps, x2 with guidance")
    dense_generation_total: float
    sample_shape: list[int]
    condition_length: int


class ExpertPlan(_Model):
    """Experts, routing and MACs of one trained ALTER model."""

    format_version: int = 1
    backbone: dict[str, Any] = Field(description="class name and source of the backbone")
    routing_mode: str
    num_train_timesteps: int
    units: list[UnitInfo]
    experts: list[ExpertInfo]
    train_routing: list[Interval] = Field(description="expert of every training timestep, as intervals")
    sampler: SamplerRouting
    macs: MacsSummary
    metrics: TrialMetrics | None = Field(
        None, description="what the experts measured: set in an export (a run dir keeps them in metrics.json)"
    )
    provenance: dict[str, Any] = Field(default_factory=dict)

    @field_validator("backbone")
    @classmethod
    def _names_its_class(cls, backbone: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(backbone.get("class_name"), str):
            raise ValueError("must name the backbone's `class_name` (e.g. UNet2DConditionModel)")
        return backbone

    @field_serializer("metrics")
    def _measured_metrics(self, metrics: TrialMetrics | None) -> dict[str, Any] | None:
        return metrics.values() if metrics is not None else None

    @property
    def guidance_scale(self) -> float:
        """The classifier-free guidance scale the experts were evaluated with (1.0 when not known)."""
        measured = self.metrics.guidance_scale if self.metrics is not None else None
        return measured if measured is not None else 1.0

    @model_validator(mode="after")
    def _routes_every_timestep(self) -> ExpertPlan:
        try:
            self.routing_table()
        except ValueError as error:
            raise ValueError(f"`train_routing` {error}") from error
        return self

    @classmethod
    def build(
        cls,
        *,
        units: Sequence[UnitSpec],
        costs: CostProfile,
        keep: torch.Tensor,
        assignment: torch.Tensor,
        sampler_name: str,
        sampler_timesteps: Sequence[int],
        guidance: bool,
        routing_mode: str,
        backbone: dict[str, Any],
        provenance: dict[str, Any] | None = None,
    ) -> ExpertPlan:
        """Assemble a plan from a hardened hypernetwork.

        Args:
            units: the gated units, in mask-column order.
            costs: their measured MACs.
            keep (`torch.Tensor` of shape `(N_e, N_L)`): 0/1 keep matrix.
            assignment (`torch.Tensor` of shape `(T,)`): expert of each training timestep.
            sampler_name: the evaluation scheduler's name.
            sampler_timesteps: the timesteps the sampler visits, in order.
            guidance: whether sampling uses classifier-free guidance.
            routing_mode: ``learned``, ``manual`` or ``static``.
            backbone: ``{"class_name": ..., "source": ...}``.
            provenance: seed, config hash, versions...
        """
        keep = keep.detach().float().cpu()
        table = RoutingTable(assignment, num_experts=keep.shape[0])
        expert_macs = costs.macs(keep)  # (N_e,)
        step_experts = table.lookup(sampler_timesteps).tolist()
        step_macs = [float(expert_macs[e]) for e in step_experts]
        mean_per_step = sum(step_macs) / len(step_macs)
        names = [unit.name for unit in units]
        experts = [
            ExpertInfo(
                index=e,
                keep=[n for n, k in zip(names, keep[e]) if k > 0.5],
                skip=[n for n, k in zip(names, keep[e]) if k <= 0.5],
                macs_per_step=float(expert_macs[e]),
                macs_share=float(expert_macs[e]) / costs.dense_macs,
                sampler_steps=step_experts.count(e),
            )
            for e in range(keep.shape[0])
        ]
        return cls(
            backbone=backbone,
            routing_mode=routing_mode,
            num_train_timesteps=table.num_train_timesteps,
            units=[UnitInfo(name=u.name, kind=u.kind, macs=m) for u, m in zip(units, costs.unit_macs)],
            experts=experts,
            train_routing=[Interval(**i) for i in table.to_intervals()],
            sampler=SamplerRouting(
                scheduler=sampler_name,
                steps=len(sampler_timesteps),
                timesteps=[int(t) for t in sampler_timesteps],
                experts=step_experts,
                intervals=[Interval(**i) for i in routing_intervals(sampler_timesteps, step_experts)],
            ),
            macs=MacsSummary(
                convention=costs.convention,
                dense_per_step=costs.dense_macs,
                fixed_per_step=costs.fixed_macs,
                mean_per_step=mean_per_step,
                share=mean_per_step / costs.dense_macs,
                guidance=guidance,
                generation_total=generation_macs(step_macs, guidance),
                dense_generation_total=generation_macs([costs.dense_macs] * len(step_macs), guidance),
                sample_shape=list(costs.sample_shape),
                condition_length=costs.condition_length,
            ),
            provenance=provenance or {},
        )

    # ---- views -------------------------------------------------------------------------------

    @property
    def unit_names(self) -> list[str]:
        """Unit names in mask-column order."""
        return [unit.name for unit in self.units]

    def keep_matrix(self) -> torch.Tensor:
        """0/1 keep matrix, shape ``(N_e, N_L)`` float32."""
        index = {name: i for i, name in enumerate(self.unit_names)}
        keep = torch.zeros(len(self.experts), len(self.units))
        for expert in self.experts:
            for name in expert.keep:
                keep[expert.index, index[name]] = 1.0
        return keep

    def routing_table(self) -> RoutingTable:
        """The expert of every training timestep, from ``train_routing``.

        Raises:
            ValueError: ``train_routing`` does not cover ``0 .. num_train_timesteps - 1`` exactly once.
        """
        intervals = [interval.model_dump() for interval in self.train_routing]
        return RoutingTable.from_intervals(intervals, len(self.experts), self.num_train_timesteps)

    def assignment(self) -> torch.Tensor:
        """Expert of every training timestep ``0..T-1``, shape ``(T,)`` long."""
        return self.routing_table().experts

    @property
    def dense_steps(self) -> float:
        """Total generation MACs in dense steps (the dense model's MACs for one sampler step): the sampler
        steps times the mean share of a dense step the experts run, e.g. 5 steps x 0.8 = 4.0."""
        return self.macs.generation_total / self.macs.dense_generation_total * self.sampler.steps

    def intervals_per_expert(self) -> list[int]:
        """Contiguous intervals of training timesteps each expert serves (1 = one interval)."""
        return self.routing_table().intervals_per_expert()

    def experts_in_use(self) -> int:
        """Number of distinct experts the sampler's steps use."""
        return len(set(self.sampler.experts))

    # ---- files -------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the plan as YAML (``.yaml``/``.yml``) or JSON (any other suffix), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.model_dump(mode="json")
        text = (
            yaml.safe_dump(data, sort_keys=False, width=100)
            if path.suffix in (".yaml", ".yml")
            else json.dumps(data, indent=2)
        )
        return atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | Path) -> ExpertPlan:
        """Read a plan written by :meth:`save`.

        Raises:
            CheckpointError: the file is missing, unreadable or not a valid plan.
        """
        return read_model(path, cls)
