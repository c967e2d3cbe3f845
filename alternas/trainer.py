"""The single-stage ALTER trainer: backbone fine-tuning and hypernetwork search in one loop.

Each iteration draws one mini-batch and one noise/timestep sample and runs the frozen teacher once;
then (1) a backbone step with the current hard expert table (skipped units really skipped), (2) while
``step < train.hypernet_steps`` a hypernetwork step with straight-through Gumbel masks through the
frozen student, and (3) a refresh of the hard table (deterministic hardening). After ``hypernet_steps``
only the backbone trains. Every random draw of iteration ``k`` comes from a generator seeded with
``(seed, k)``, so a run resumed from a checkpoint repeats an uninterrupted one bit for bit on CPU.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import math
import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import DDPMScheduler
from torch import nn

from . import __version__
from ._atomic import atomic_dir, discard
from ._cache import config_hash
from .backbones import adapter_for
from .bundle import ModelBundle
from .config import RunConfig
from .data.training_set import TrainingSet
from .exceptions import CheckpointError, TrainingDiverged
from .features import FeatureRecorder
from .gating import GateController
from .hypernet import HyperNetwork
from .losses import BackboneLoss, balance_loss, budget_loss
from .macs import CostProfile, profile_costs
from .plan import ExpertPlan
from .routing import RoutingTable, manual_assignment
from .schedulers import sampler_timesteps
from .units import select_units

__all__ = ["AlterTrainer", "TrainerCallback", "resolve_device"]

logger = logging.getLogger("alternas")
_CHECKPOINT_FILE = "trainer.pt"
_KEEP_CHECKPOINTS = 2
#: settings that do not change what training computes, left out of the checkpoint identity hash
_NOT_TRAINING = {
    "train": {"log_every", "checkpoint_every", "threads"},
    "eval": {"batch_size", "latency_repeats", "latency_batch_size"},
}
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class TrainerCallback:
    """Hooks into :meth:`AlterTrainer.fit`; override what you need. New keyword arguments may be
    added to the hooks over time, so accept ``**info``."""

    def on_step(self, trainer: AlterTrainer, step: int, metrics: dict[str, float], **info: Any) -> None:
        """Called every ``train.log_every`` iterations and after the last one."""

    def on_checkpoint(self, trainer: AlterTrainer, step: int, path: Path, **info: Any) -> None:
        """Called after a checkpoint was written to ``path``."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class _Batch:
    """One iteration's inputs, shared by the teacher pass and both optimisation steps."""

    noisy: torch.Tensor  # (B, C, H, W)
    timesteps: torch.Tensor  # (B,) long
    condition: dict[str, Any]
    target: torch.Tensor  # (B, C, H, W)
    snr_weights: torch.Tensor | None  # (B,)
    teacher_prediction: torch.Tensor = field(init=False)
    teacher_features: list[torch.Tensor] = field(init=False)


class AlterTrainer:
    """Train one ALTER model: a gated student, its frozen teacher and the hypernetwork.

    Args:
        config: the run configuration.
        bundle: the pretrained backbone (copied: the bundle's model becomes the student).
        training_set: training samples with encoded conditions.

    Raises:
        BudgetError: ``budget.macs_share`` is below the fixed cost of the selected units.
        BackboneError: no unit matches ``units``.
    """

    def __init__(self, config: RunConfig, bundle: ModelBundle, training_set: TrainingSet) -> None:
        self.config = config
        self.bundle = bundle
        self.training_set = training_set
        self.device = resolve_device(config.train.device)
        if config.train.threads is not None:
            torch.set_num_threads(config.train.threads)
        self.autocast_dtype = _DTYPES[config.train.precision] if self.device.type == "cuda" else None

        self.student = bundle.backbone.to(self.device)
        self.teacher = copy.deepcopy(self.student).eval().requires_grad_(False)
        if self.device.type == "cuda":
            self.teacher.to(_DTYPES[config.model.teacher_precision])
        self._prepare_models()
        self.adapter = adapter_for(self.student)
        self.teacher_adapter = adapter_for(self.teacher)
        self.feature_names = self.adapter.feature_module_names()

        self.units = select_units(
            self.adapter.discover_units(), config.units.include, config.units.exclude, config.units.kinds
        )
        if config.model.compile and self.device.type == "cuda":
            self._compile_units()
        self.gates = GateController(self.student, self.units)
        self.costs: CostProfile = profile_costs(
            self.adapter,
            self.units,
            condition_length=bundle.conditioner.condition_length,
            convention=config.budget.convention,
            sample_shape=training_set.sample_shape,
            gates=self.gates,
        )
        self.costs.check_budget(config.budget.macs_share, where="budget.macs_share")
        self.unit_shares = self.costs.unit_shares(self.device)  # (N_L,)

        self.noise_scheduler = DDPMScheduler.from_config(bundle.scheduler_config)
        self.num_train_timesteps = bundle.num_train_timesteps
        self.sampler_timesteps = sampler_timesteps(
            config.eval.scheduler, bundle.scheduler_config, config.eval.steps
        )
        self._sampler_index = torch.tensor(self.sampler_timesteps, device=self.device)
        self.time_features = self.adapter.time_features(torch.arange(self.num_train_timesteps))  # (T, D)

        experts = config.experts
        fixed = None
        if experts.routing != "learned":
            fixed = manual_assignment(experts.count, self.num_train_timesteps, experts.boundaries)
        self.hypernet = HyperNetwork(
            experts.count,
            len(self.units),
            self.time_features.shape[1],
            self.num_train_timesteps,
            fixed,
            config.hypernet,
            seed=config.train.seed,
        ).to(self.device)

        train = config.train
        self.backbone_optimizer = torch.optim.AdamW(
            self.student.parameters(), lr=train.lr, weight_decay=train.weight_decay
        )
        self.hypernet_optimizer = torch.optim.AdamW(
            self.hypernet.parameters(), lr=train.hypernet_lr, weight_decay=train.weight_decay
        )
        self.backbone_schedule = torch.optim.lr_scheduler.LambdaLR(
            self.backbone_optimizer, _lr_factor(train.warmup_steps, train.steps, train.lr_decay, 0.0)
        )
        self.hypernet_schedule = torch.optim.lr_scheduler.LambdaLR(
            self.hypernet_optimizer,
            _lr_factor(train.hypernet_warmup_steps, train.hypernet_steps, train.hypernet_lr_decay, 0.05),
        )
        fp16 = self.autocast_dtype == torch.float16
        self.backbone_scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        self.hypernet_scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        self.loss = BackboneLoss(config.loss)

        self.step = 0
        self.history: list[dict[str, float]] = []
        self.keep, self.assignment = self.hypernet.harden(self.time_features)  # (N_e, N_L), (T,)
        self.config_hash = config_hash(config.model_dump(mode="json", exclude=_NOT_TRAINING))

    # ---- set-up helpers ----------------------------------------------------------------------

    def _prepare_models(self) -> None:
        model_config = self.config.model
        if model_config.gradient_checkpointing and hasattr(self.student, "enable_gradient_checkpointing"):
            self.student.enable_gradient_checkpointing()
        if model_config.channels_last and self.device.type == "cuda":
            self.student.to(memory_format=torch.channels_last)
            self.teacher.to(memory_format=torch.channels_last)
        self.student.train()

    def _compile_units(self) -> None:
        """``torch.compile`` every prunable unit of the student and the teacher (regional compilation).

        A whole-model compile would recompile for every expert mask (skipped units change the graph)
        and for the feature-distillation hooks; each unit is a fixed computation, compiled once (a
        sub-batch of the samples that keep a unit recompiles once, with dynamic shapes). This runs
        before gating, so each gate wraps the compiled forward.

        Units of one class share one compiled function, specialised per weight shape and per grad
        state (student step, frozen student in the hypernetwork step, no-grad teacher), so dynamo's
        recompile limit is raised to cover every such variant.
        """
        compiled: dict[type, Callable[..., Any]] = {}  # one compiled forward per unit class
        variants: set[tuple[Any, ...]] = set()
        for model in (self.student, self.teacher):
            modules = dict(model.named_modules())
            for unit in self.units:
                module = modules[unit.name]
                forward = compiled.setdefault(type(module), torch.compile(type(module).forward))
                module.forward = functools.partial(forward, module)
                variants.add((type(module), *(tuple(p.shape) for p in module.parameters())))
        dynamo_config = torch._dynamo.config
        dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 4 * len(variants))
        dynamo_config.accumulated_recompile_limit = max(
            dynamo_config.accumulated_recompile_limit, 8 * len(variants)
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _generator(self, step: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.config.train.seed * 1_000_003 + step) % (2**63))

    @property
    def total_steps(self) -> int:
        """Total iterations of the run."""
        return self.config.train.steps

    @property
    def hypernet_active(self) -> bool:
        """Whether the current iteration still trains the hypernetwork."""
        return self.step < self.config.train.hypernet_steps

    def budget_target(self, step: int) -> float:
        """The hypernetwork's MACs-share target at iteration ``step``: a cubic from 1.0 (dense) down to
        ``budget.macs_share`` over the first ``budget.warmup_share`` of ``train.hypernet_steps``, so the
        masks shrink while the backbone adapts instead of dropping to the budget at once."""
        final = self.config.budget.macs_share
        warmup = self.config.budget.warmup_share * self.config.train.hypernet_steps
        remaining = 1.0 - min(1.0, step / warmup) if warmup > 0 else 0.0
        return final + (1.0 - final) * remaining**3

    # ---- one iteration -----------------------------------------------------------------------

    def _draw_batch(self, generator: torch.Generator) -> _Batch:
        train = self.config.train
        indices = self.training_set.indices_for_step(self.step, train.batch_size, train.seed)
        samples, condition = self.training_set.batch(indices, self.device)
        batch_size = len(samples)
        dropout = self.config.data.condition_dropout
        drop = torch.rand(batch_size, generator=generator) < dropout
        if dropout > 0 and self.bundle.conditioner.supports_guidance and bool(drop.any()):
            null = self.bundle.conditioner.null(batch_size, self.device)
            drop = drop.to(self.device)
            condition = {
                key: torch.where(drop.view(-1, *[1] * (value.dim() - 1)), null[key].to(value.dtype), value)
                for key, value in condition.items()
            }
        noise = torch.randn(samples.shape, generator=generator).to(self.device)
        timesteps = torch.randint(0, self.num_train_timesteps, (batch_size,), generator=generator).to(self.device)
        noisy = self.noise_scheduler.add_noise(samples, noise, timesteps)
        prediction_type = self.bundle.prediction_type
        if prediction_type == "epsilon":
            target = noise
        elif prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(samples, noise, timesteps)
        else:
            target = samples
        return _Batch(noisy, timesteps, condition, target, self._snr_weights(timesteps))

    def _snr_weights(self, timesteps: torch.Tensor) -> torch.Tensor | None:
        gamma = self.config.loss.snr_gamma
        if gamma is None:
            return None
        alphas = self.noise_scheduler.alphas_cumprod.to(self.device)[timesteps]
        snr = alphas / (1 - alphas)
        clipped = torch.clamp(snr, max=gamma)
        return clipped / (snr + 1) if self.bundle.prediction_type == "v_prediction" else clipped / snr

    def _run_teacher(self, batch: _Batch) -> None:
        dtype = next(self.teacher.parameters()).dtype
        condition = {k: v.to(dtype) if v.is_floating_point() else v for k, v in batch.condition.items()}
        with torch.no_grad(), self._autocast(), FeatureRecorder(self.teacher, self.feature_names) as recorder:
            batch.teacher_prediction = self.teacher_adapter.predict(
                batch.noisy.to(dtype), batch.timesteps, condition
            )
        batch.teacher_features = recorder.outputs

    def _student_loss(self, batch: _Batch, masks: torch.Tensor, mode: str) -> tuple[torch.Tensor, dict[str, float]]:
        with self.gates.apply(masks, mode=mode), self._autocast(), FeatureRecorder(
            self.student, self.feature_names
        ) as recorder:
            prediction = self.adapter.predict(batch.noisy, batch.timesteps, batch.condition)
        return self.loss(
            prediction,
            batch.target,
            batch.teacher_prediction,
            recorder.outputs,
            batch.teacher_features,
            batch.snr_weights,
        )

    def _optimise(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        schedule: torch.optim.lr_scheduler.LRScheduler,
        parameters: Sequence[nn.Parameter],
        what: str,
    ) -> float:
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"the {what} loss became {loss.item()} at step {self.step}; lower `train.lr` / "
                "`train.hypernet_lr` or use `train.precision: fp32`"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        norm = nn.utils.clip_grad_norm_(parameters, self.config.train.grad_clip)
        if not torch.isfinite(norm) and not scaler.is_enabled():
            raise TrainingDiverged(
                f"the {what} gradient norm became {norm.item()} at step {self.step}; lower the learning rate"
            )
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        return float(norm)

    def train_step(self) -> dict[str, float]:
        """Run iteration ``self.step`` and advance it; returns the iteration's metrics."""
        generator = self._generator(self.step)
        batch = self._draw_batch(generator)
        self._run_teacher(batch)
        metrics: dict[str, float] = {}
        two_stage_search = self.config.train.schedule == "two_stage" and self.hypernet_active

        if not two_stage_search:  # (1) backbone step with the hard expert table
            masks = self.keep[self.assignment[batch.timesteps]]  # (B, N_L)
            loss, parts = self._student_loss(batch, masks, "hard")
            metrics["loss_backbone"] = loss.item()
            metrics.update({f"loss_{k}": v for k, v in parts.items()})
            self._optimise(
                loss,
                self.backbone_optimizer,
                self.backbone_scaler,
                self.backbone_schedule,
                list(self.student.parameters()),
                "backbone",
            )

        if self.hypernet_active:  # (2) hypernetwork step through the frozen student, on its own draw
            search_batch = self._draw_batch(generator)  # same samples, fresh noise and timesteps
            self._run_teacher(search_batch)
            metrics.update(self._hypernet_step(search_batch, generator))
            self.keep, self.assignment = self.hypernet.harden(self.time_features)  # (3)

        metrics["macs_share_hard"] = self.hard_share()
        table = RoutingTable(self.assignment, self.hypernet.num_experts)
        metrics["experts_in_use"] = float(len(table.lookup(self.sampler_timesteps).unique()))
        metrics["routing_intervals_max"] = float(max(table.intervals_per_expert()))
        metrics["lr"] = self.backbone_schedule.get_last_lr()[0]
        self.step += 1
        return metrics

    def _hypernet_step(self, batch: _Batch, generator: torch.Generator) -> dict[str, float]:
        self.student.requires_grad_(False)
        try:
            draw = self.hypernet.sample(self.time_features, generator)
            perf, _ = self._student_loss(batch, draw.masks_at(batch.timesteps), "soft")
            target = self.budget_target(self.step)
            # while the target eases in, charge the relaxed draw (smooth); at the final target, charge
            # the masks hardening will export, so the exported table settles on the budget itself
            settled = target <= self.config.budget.macs_share
            unit_masks = self.hypernet.exported_unit_masks() if settled else draw.unit_masks  # (N_e, N_L)
            step_masks = draw.routing[self._sampler_index] @ unit_masks  # (S, N_L)
            achieved = self.costs.min_share + self.unit_shares @ step_masks.mean(0)
            ratio = budget_loss(achieved, target)
            total = perf + self.config.loss.ratio * ratio
            metrics = {
                "loss_perf": perf.item(),
                "loss_ratio": ratio.item(),
                "macs_share_soft": achieved.item(),
                "macs_share_target": target,
            }
            if draw.router_probs is not None:
                balance = balance_loss(draw.router_probs[self._sampler_index])
                total = total + self.config.loss.balance * balance
                metrics["loss_balance"] = balance.item()
            metrics["loss_hypernet"] = total.item()
            self._optimise(
                total,
                self.hypernet_optimizer,
                self.hypernet_scaler,
                self.hypernet_schedule,
                list(self.hypernet.parameters()),
                "hypernetwork",
            )
        finally:
            self.student.requires_grad_(True)
        return metrics

    def hard_share(self) -> float:
        """MACs share of the hard expert table, averaged over the sampler's timesteps."""
        step_masks = self.keep[self.assignment[self._sampler_index]]  # (S, N_L)
        return float(self.costs.share(step_masks.cpu()).mean())

    # ---- the loop ----------------------------------------------------------------------------

    def fit(
        self,
        callbacks: Sequence[TrainerCallback] = (),
        checkpoint_dir: str | Path | None = None,
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

    # ---- checkpoints -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this run is."""
        return {
            "format": 1,
            "config_hash": self.config_hash,
            "step": self.step,
            "student": self.student.state_dict(),
            "hypernet": self.hypernet.state_dict(),
            "backbone_optimizer": self.backbone_optimizer.state_dict(),
            "hypernet_optimizer": self.hypernet_optimizer.state_dict(),
            "backbone_schedule": self.backbone_schedule.state_dict(),
            "hypernet_schedule": self.hypernet_schedule.state_dict(),
            "backbone_scaler": self.backbone_scaler.state_dict(),
            "hypernet_scaler": self.hypernet_scaler.state_dict(),
            "history": self.history,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the run must have the same config.

        Raises:
            CheckpointError: the state is from a different config, or lacks or mangles a part.
        """
        if not isinstance(state, dict) or state.get("config_hash") != self.config_hash:
            raise CheckpointError(
                "the checkpoint was written by a run with a different config; start a new run "
                "directory or restore the original config"
            )
        try:
            self.student.load_state_dict(state["student"])
            self.hypernet.load_state_dict(state["hypernet"])
            self.backbone_optimizer.load_state_dict(state["backbone_optimizer"])
            self.hypernet_optimizer.load_state_dict(state["hypernet_optimizer"])
            self.backbone_schedule.load_state_dict(state["backbone_schedule"])
            self.hypernet_schedule.load_state_dict(state["hypernet_schedule"])
            self.backbone_scaler.load_state_dict(state["backbone_scaler"])
            self.hypernet_scaler.load_state_dict(state["hypernet_scaler"])
            self.history = [{str(k): float(v) for k, v in entry.items()} for entry in state["history"]]
            self.step = int(state["step"])
            torch.set_rng_state(state["rng"]["torch"])
            if state["rng"]["cuda"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
            raise CheckpointError(f"the checkpoint is incomplete or damaged: {type(error).__name__}: {error}") from error
        self.keep, self.assignment = self.hypernet.harden(self.time_features)

    def save_checkpoint(self, directory: str | Path) -> Path:
        """Write ``<directory>/step-<k>/trainer.pt`` atomically and keep the two newest checkpoints.

        Raises:
            StorageError: the checkpoint cannot be written (disk full); the older ones are kept.
        """
        directory = Path(directory)
        for leftover in directory.glob(".step-*.tmp"):  # from a run killed while writing one
            discard(leftover)
        target = directory / f"step-{self.step:08d}"
        with atomic_dir(target) as staging:
            torch.save(self.state_dict(), staging / _CHECKPOINT_FILE)
        for old in self.checkpoints(directory)[_KEEP_CHECKPOINTS:]:
            discard(old)
        return target

    def load_checkpoint(self, path: str | Path) -> None:
        """Resume from a checkpoint folder written by :meth:`save_checkpoint`.

        Only tensors and plain data (dicts, lists, numbers, strings) are unpickled: a file holding any
        other object is refused, so a planted checkpoint cannot run code.

        Raises:
            CheckpointError: it is missing, unreadable, holds other objects, or is from a different config.
        """
        file = Path(path) / _CHECKPOINT_FILE
        try:
            state = torch.load(file, map_location=self.device, weights_only=True)
        except FileNotFoundError as error:
            raise CheckpointError(f"no checkpoint at `{path}` (missing {_CHECKPOINT_FILE})") from error
        except pickle.UnpicklingError as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CheckpointError(
                f"checkpoint `{file}` was refused: it holds objects other than tensors and plain data, "
                f"which could run code when loaded ({reason}); delete it if you did not write it"
            ) from error
        except Exception as error:  # torch raises many types for a truncated/corrupted file
            raise CheckpointError(f"checkpoint `{file}` is corrupted: {error}") from error
        try:
            self.load_state_dict(state)
        except CheckpointError as error:
            raise CheckpointError(f"checkpoint `{file}`: {error}") from error

    def resume(self, candidates: Sequence[str | Path]) -> Path | None:
        """Load the first checkpoint of ``candidates`` (newest first) that can be loaded.

        An unreadable one is skipped with a warning, so a run whose newest checkpoint was torn (or
        planted) continues from the one before.

        Returns:
            The checkpoint folder used, or ``None`` when there are no candidates.

        Raises:
            CheckpointError: none of the candidates can be loaded.
        """
        problems = []
        for candidate in candidates:
            try:
                self.load_checkpoint(candidate)
            except CheckpointError as error:
                logger.warning("cannot resume from %s: %s", candidate, error)
                problems.append(str(error))
                continue
            if problems:
                logger.warning("resumed from the older checkpoint %s instead", candidate)
            return Path(candidate)
        if problems:
            raise CheckpointError(
                "no readable checkpoint to resume from:\n"
                + "\n".join(problems)
                + "\nremove the run's `checkpoints` folder to train from the start"
            )
        return None

    @staticmethod
    def checkpoints(directory: str | Path) -> list[Path]:
        """The complete checkpoint folders under ``directory``, newest first."""
        return [file.parent for file in sorted(Path(directory).glob(f"step-*/{_CHECKPOINT_FILE}"), reverse=True)]

    @classmethod
    def latest_checkpoint(cls, directory: str | Path) -> Path | None:
        """The newest complete checkpoint folder under ``directory``, or ``None``."""
        found = cls.checkpoints(directory)
        return found[0] if found else None

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
            provenance={
                "config_hash": self.config_hash,
                "seed": self.config.train.seed,
                "steps": self.step,
                "alternas": __version__,
                "torch": torch.__version__,
                **(provenance or {}),
            },
        )

    @contextlib.contextmanager
    def evaluation_mode(self) -> Iterator[None]:
        """Put the student in eval mode for sampling, and back in train mode afterwards."""
        self.student.eval()
        try:
            yield
        finally:
            self.student.train()


def _lr_factor(warmup: int, total: int, decay: str, floor: float) -> Callable[[int], float]:
    """Learning-rate multiplier: linear warm-up over ``warmup`` iterations, then constant or a cosine
    from 1 down to ``floor`` at iteration ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if decay == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / (total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor
