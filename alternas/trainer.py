"""The single-stage ALTER trainer: backbone fine-tuning and hypernetwork search in one loop.

Each iteration draws one mini-batch and one noise/timestep sample and runs the frozen teacher once;
then (1) a backbone step with the current hard expert table (skipped units really skipped), (2) while
``step < train.hypernet_steps`` a hypernetwork step with straight-through Gumbel masks through the
frozen student, and (3) a refresh of the hard table (deterministic hardening, held on the budget by
:meth:`BudgetSchedule.settle`). After ``hypernet_steps`` only the backbone trains. With
``hypernet.warm_start_steps`` the experts start as one shared expert and are grown from it at that
iteration (step (0), see :class:`~alternas.hypernet.HyperNetwork`). Every random draw of iteration
``k`` comes from a generator seeded with ``(seed, k)``, so a run resumed from a checkpoint repeats an
uninterrupted one bit for bit on CPU.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from . import __version__
from ._cache import config_hash
from .batches import Batch, NoisedBatches
from .budget import BudgetSchedule
from .bundle import ModelBundle
from .checkpoints import latest_checkpoint, pack_state, read_checkpoint, resume, unpack_state, write_checkpoint
from .config import RunConfig
from .data.training_set import TrainingSet
from .distillation import Distillation
from .exceptions import CheckpointError
from .gating import GateController
from .hypernet import HyperNetwork
from .losses import balance_loss, budget_loss
from .macs import CostProfile, profile_costs
from .optim import Optimiser, lr_factor
from .plan import ExpertPlan
from .routing import RoutingTable, manual_assignment
from .runtime import compile_units, resolve_device
from .samplers import sampler_timesteps
from .units import select_units

__all__ = ["AlterTrainer", "TrainerCallback"]

#: settings that do not change what training computes, left out of the checkpoint identity hash
_NOT_TRAINING = {
    "train": {"log_every", "checkpoint_every", "threads"},
    "eval": {"batch_size", "latency_repeats", "latency_batch_size"},
}


class TrainerCallback:
    """Hooks into :meth:`AlterTrainer.fit`; override what you need. New keyword arguments may be
    added to the hooks over time, so accept ``**info``."""

    def on_step(self, trainer: AlterTrainer, step: int, metrics: dict[str, float], **info: Any) -> None:
        """Called every ``train.log_every`` iterations and after the last one."""

    def on_checkpoint(self, trainer: AlterTrainer, step: int, path: Path, **info: Any) -> None:
        """Called after a checkpoint was written to ``path``."""


class AlterTrainer:
    """Train one ALTER model: a gated student, its frozen teacher and the hypernetwork.

    Construction sets no process-wide state: the caller applies ``train.threads`` and, for
    ``model.compile``, dynamo's recompile limits (see :func:`alternas.api.prepare_trainer`).

    Args:
        config: the run configuration.
        bundle: the pretrained backbone (copied: the bundle's model becomes the student).
        training_set: training samples with encoded conditions.

    Raises:
        BudgetError: ``budget.macs_share`` is below the fixed cost of the selected units.
        BackboneError: no unit matches ``units``.
    """

    #: the newest checkpoint folder under a directory (see :mod:`alternas.checkpoints`)
    latest_checkpoint = staticmethod(latest_checkpoint)

    def __init__(self, config: RunConfig, bundle: ModelBundle, training_set: TrainingSet) -> None:
        self.config = config
        self.bundle = bundle
        self.training_set = training_set
        self.device = resolve_device(config.train.device)
        self._build_models()
        self._build_units()
        self._build_timesteps()
        self._build_hypernet()
        self._build_optimisers()
        self.batches = NoisedBatches(config, bundle, training_set, self.device)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.keep, self.assignment = self.hypernet.harden(self.time_features)  # (N_e, N_L), (T,)
        self.config_hash = config_hash(config.model_dump(mode="json", exclude=_NOT_TRAINING))

    # ---- construction, in order --------------------------------------------------------------

    def _build_models(self) -> None:
        """The student (the bundle's backbone, trained) and its frozen teacher (a copy of it)."""
        model_config = self.config.model
        self.student = self.bundle.backbone.to(self.device)
        self.distillation = Distillation(self.student, self.config, self.device)
        self.teacher, self.adapter = self.distillation.teacher, self.distillation.adapter
        self.teacher_adapter = self.distillation.teacher_adapter
        if model_config.gradient_checkpointing and hasattr(self.student, "enable_gradient_checkpointing"):
            self.student.enable_gradient_checkpointing()
        if model_config.channels_last and self.device.type == "cuda":
            self.student.to(memory_format=torch.channels_last)
        self.student.train()

    def _build_units(self) -> None:
        """The prunable units, (optionally) compiled, gated, and their MACs checked against the budget."""
        config = self.config
        self.units = select_units(
            self.adapter.discover_units(), config.units.include, config.units.exclude, config.units.kinds
        )
        self.compiled_variants = 0
        if config.model.compile and self.device.type == "cuda":
            self.compiled_variants = compile_units((self.student, self.teacher), [u.name for u in self.units])
        self.gates = GateController(self.student, self.units)
        self.costs: CostProfile = profile_costs(
            self.adapter,
            self.units,
            condition_length=self.bundle.conditioner.condition_length,
            convention=config.budget.convention,
            sample_shape=self.training_set.sample_shape,
            gates=self.gates,
        )
        self.costs.check_budget(config.budget.macs_share, where="budget.macs_share")

    def _build_timesteps(self) -> None:
        """The training schedule's length ``T``, the sampler's timesteps and the router's time features."""
        self.num_train_timesteps = self.bundle.num_train_timesteps
        self.sampler_timesteps = sampler_timesteps(
            self.config.eval.scheduler, self.bundle.scheduler_config, self.config.eval.steps
        )
        self._sampler_index = torch.tensor(self.sampler_timesteps, device=self.device)  # (S,)
        self.time_features = self.adapter.time_features(torch.arange(self.num_train_timesteps))  # (T, D)
        self.budget = BudgetSchedule(self.config.budget, self.config.train.hypernet_steps, self.costs,
                                     self._sampler_index)

    def _build_hypernet(self) -> None:
        """The expert generator and router; fixed routing tables for ``manual`` / ``static``."""
        experts = self.config.experts
        fixed = None
        if experts.routing != "learned":
            fixed = manual_assignment(experts.count, self.num_train_timesteps, experts.boundaries)
        self.hypernet = HyperNetwork(
            experts.count, len(self.units), self.time_features.shape[1], self.num_train_timesteps, fixed,
            self.config.hypernet, seed=self.config.train.seed,
        ).to(self.device)

    def _build_optimisers(self) -> None:
        """One :class:`Optimiser` for the backbone and one for the hypernetwork."""
        train = self.config.train
        shared = {"weight_decay": train.weight_decay, "grad_clip": train.grad_clip,
                  "fp16": self.distillation.autocast_dtype == torch.float16}
        self.backbone_optimiser = Optimiser(
            self.student.parameters(), "backbone", lr=train.lr,
            schedule=lr_factor(train.warmup_steps, train.steps, train.lr_decay, 0.0, train.lr_decay_steps),
            **shared,
        )
        self.hypernet_optimiser = Optimiser(
            self.hypernet.parameters(), "hypernetwork", lr=train.hypernet_lr,
            schedule=lr_factor(train.hypernet_warmup_steps, train.hypernet_steps, train.hypernet_lr_decay, 0.05),
            **shared,
        )

    # ---- one iteration -----------------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        """Total iterations of the run."""
        return self.config.train.steps

    @property
    def hypernet_active(self) -> bool:
        """Whether the current iteration still trains the hypernetwork."""
        return self.step < self.config.train.hypernet_steps

    def budget_target(self, step: int) -> float:
        """The hypernetwork's MACs-share target at iteration ``step`` (see :class:`BudgetSchedule`)."""
        return self.budget.target(step)

    def _generator(self, step: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.config.train.seed * 1_000_003 + step) % (2**63))

    def _draw_batch(self, generator: torch.Generator) -> Batch:
        """This iteration's noised batch with the frozen teacher's prediction and block features."""
        batch = self.batches.draw(self.step, generator)
        self.distillation.teach(batch)
        return batch

    def _student_loss(self, batch: Batch, masks: torch.Tensor, mode: str) -> tuple[torch.Tensor, dict[str, float]]:
        """``L_U`` of the student gated by ``masks`` (``(B, N_L)`` or ``(N_L,)``) and its parts."""
        with self.gates.apply(masks, mode=mode):
            return self.distillation.student_loss(batch)

    def train_step(self) -> dict[str, float]:
        """Run iteration ``self.step`` and advance it; returns the iteration's metrics."""
        if self.hypernet.sharing and self.step >= self.config.hypernet.warm_start_steps:
            self.hypernet.grow()  # (0) the experts start from the shared one, then (3) refreshes the table
            self._harden(completed=self.step)
        generator = self._generator(self.step)
        batch = self._draw_batch(generator)
        metrics: dict[str, float] = {}
        if not (self.config.train.schedule == "two_stage" and self.hypernet_active):
            masks = self.keep[self.assignment[batch.timesteps]]  # (B, N_L): (1) the hard expert table
            loss, parts = self._student_loss(batch, masks, "hard")
            metrics["loss_backbone"] = loss.item()
            metrics.update({f"loss_{k}": v for k, v in parts.items()})
            self.backbone_optimiser.step(loss, self.step)
        if self.hypernet_active:  # (2) through the frozen student, on the same samples with fresh noise
            metrics.update(self._hypernet_step(self._draw_batch(generator), generator))
            self._harden(completed=self.step + 1)  # (3)
        metrics["macs_share_hard"] = self.hard_share()
        table = RoutingTable(self.assignment, self.hypernet.num_experts)
        metrics["experts_in_use"] = float(len(table.lookup(self.sampler_timesteps).unique()))
        metrics["routing_intervals_max"] = float(max(table.intervals_per_expert()))
        metrics["lr"] = self.backbone_optimiser.lr
        self.step += 1
        return metrics

    def _hypernet_step(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        self.student.requires_grad_(False)
        try:
            draw = self.hypernet.sample(self.time_features, generator)
            perf, _ = self._student_loss(batch, draw.masks_at(batch.timesteps), "soft")
            target = self.budget.target(self.step)
            # while the target eases in, charge the relaxed draw (smooth); at the final target, charge
            # the masks hardening will export, so the exported table settles on the budget itself
            settled = target <= self.config.budget.macs_share
            unit_masks = self.hypernet.exported_unit_masks() if settled else draw.unit_masks  # (N_e, N_L)
            achieved = self.budget.soft_share(draw.routing, unit_masks)
            ratio = budget_loss(achieved, target)
            total = perf + self.config.loss.ratio * ratio
            metrics = {"loss_perf": perf.item(), "loss_ratio": ratio.item(),
                       "macs_share_soft": achieved.item(), "macs_share_target": target}
            if draw.router_probs is not None:
                balance = balance_loss(draw.router_probs[self._sampler_index])
                total = total + self.config.loss.balance * balance
                metrics["loss_balance"] = balance.item()
            metrics["loss_hypernet"] = total.item()
            self.hypernet_optimiser.step(total, self.step)
        finally:
            self.student.requires_grad_(True)
        return metrics

    def _harden(self, completed: int) -> None:
        """(3) The hard expert table from the hypernetwork after ``completed`` iterations, held on its budget
        (see :meth:`BudgetSchedule.settle`): while the hypernetwork trains, never more than
        ``budget.tolerance`` below the last iteration's target (dropped units with the highest keep logits
        are kept again), so the backbone never trains a table that fell through the budget; once it has
        finished, within the tolerance of ``budget.macs_share``. A function of the hypernetwork's state and
        ``completed`` alone, so a resumed run hardens to the same table."""
        self.keep, self.assignment = self.hypernet.harden(self.time_features)
        hypernet_steps = self.config.train.hypernet_steps
        if hypernet_steps == 0 or completed == 0:
            return  # nothing trained the table yet: it stays as the hypernetwork initialises it
        logits = self.hypernet.unit_logits()
        if completed >= hypernet_steps:
            self.keep = self.budget.settle(self.keep, self.assignment, logits)
        else:
            self.keep = self.budget.settle(self.keep, self.assignment, logits,
                                           target=self.budget.target(completed - 1), floor_only=True)

    def settled_keep(self) -> torch.Tensor:
        """The keep masks, shape ``(N_e, N_L)``, the run would end with if the hypernetwork stopped training
        now: the current hard table settled onto ``budget.macs_share`` (:attr:`keep` itself once the
        hypernetwork has finished). What a successive-halving rung scores, so trials whose tables have not
        yet shrunk to their budgets are not ranked on the MACs they will give up."""
        if not self.hypernet_active:
            return self.keep
        return self.budget.settle(self.keep, self.assignment, self.hypernet.unit_logits())

    def hard_share(self) -> float:
        """MACs share of the hard expert table, averaged over the sampler's timesteps."""
        return self.budget.hard_share(self.keep, self.assignment)

    # ---- the loop ----------------------------------------------------------------------------

    def fit(
        self, callbacks: Sequence[TrainerCallback] = (), checkpoint_dir: str | Path | None = None
    ) -> list[dict[str, float]]:
        """Train from the current step to ``train.steps``; returns the logged history.

        Args:
            callbacks: progress and checkpoint hooks.
            checkpoint_dir: where to write checkpoints every ``train.checkpoint_every`` steps and at
                the end (``None``: no checkpoints).
        """
        train = self.config.train
        started = time.perf_counter()
        while self.step < train.steps:
            metrics = self.train_step()
            last = self.step == train.steps
            if self.step % train.log_every == 0 or last:
                metrics["step"] = float(self.step)
                metrics["seconds"] = time.perf_counter() - started
                self.history.append(metrics)
                for callback in callbacks:
                    callback.on_step(self, self.step, metrics)
            if checkpoint_dir is not None and (self.step % train.checkpoint_every == 0 or last):
                path = self.save_checkpoint(checkpoint_dir)
                for callback in callbacks:
                    callback.on_checkpoint(self, self.step, path)
        return self.history

    # ---- state -------------------------------------------------------------------------------

    def _stateful(self) -> dict[str, Any]:
        """The parts whose ``state_dict`` a checkpoint holds, by checkpoint key (the one list of them)."""
        return {"student": self.student, "hypernet": self.hypernet,
                "backbone_optimiser": self.backbone_optimiser, "hypernet_optimiser": self.hypernet_optimiser}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this run is (see :func:`~alternas.checkpoints.pack_state`)."""
        return pack_state(self.config_hash, self.step, self._stateful(), self.history)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the run must have the same config.

        Raises:
            CheckpointError: the state is from a different config or layout, or lacks or mangles a part.
        """
        self.step, self.history = unpack_state(state, self.config_hash, self._stateful())
        self._harden(completed=self.step)

    def save_checkpoint(self, directory: str | Path) -> Path:
        """Write this state to ``<directory>/step-<k>/`` (see :func:`alternas.checkpoints.write_checkpoint`)."""
        return write_checkpoint(directory, self.step, self.state_dict())

    def load_checkpoint(self, path: str | Path) -> None:
        """Resume from a checkpoint folder written by :meth:`save_checkpoint` (plain data only).

        Raises:
            CheckpointError: it is missing, unreadable, holds other objects, or is from a different config.
        """
        state = read_checkpoint(path, self.device)
        try:
            self.load_state_dict(state)
        except CheckpointError as error:
            raise CheckpointError(f"checkpoint `{Path(path)}`: {error}") from error

    def resume(self, candidates: Sequence[str | Path]) -> Path | None:
        """Load the first loadable checkpoint of ``candidates`` (newest first), skipping unreadable ones;
        returns the folder used (see :func:`alternas.checkpoints.resume`)."""
        return resume(candidates, self.load_checkpoint)

    # ---- results -----------------------------------------------------------------------------

    def expert_plan(self, provenance: dict[str, Any] | None = None) -> ExpertPlan:
        """The deterministic hard experts and routing as an :class:`ExpertPlan`."""
        guidance = self.config.eval.guidance_scale > 1.0 and self.bundle.conditioner.supports_guidance
        return ExpertPlan.build(
            units=self.units,
            costs=self.costs,
            keep=self.keep,
            assignment=self.assignment,
            sampler_name=self.config.eval.scheduler,
            sampler_timesteps=self.sampler_timesteps,
            guidance=guidance,
            routing_mode=self.config.experts.routing,
            backbone={"class_name": self.bundle.class_name, "source": self.bundle.source},
            provenance={"config_hash": self.config_hash, "seed": self.config.train.seed, "steps": self.step,
                        "alternas": __version__, "torch": torch.__version__, **(provenance or {})},
        )

    @contextlib.contextmanager
    def evaluation_mode(self) -> Iterator[None]:
        """Put the student in eval mode for sampling, and back in train mode afterwards."""
        self.student.eval()
        try:
            yield
        finally:
            self.student.train()
