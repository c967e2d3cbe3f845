"""The Python API of one ALTER run: train, evaluate, and write the run directory."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from ._atomic import atomic_dir, atomic_write_text
from .checkpoints import list_checkpoints
from .config import RunConfig
from .images import save_image_grid
from .plan import ExpertPlan
from .metrics import TrialMetrics
from .quality import write_scores
from .rundir import RUN_FILES, SAMPLE_CONDITIONS, write_metrics
from .runtime import allow_recompiles
from .sources import load_bundle, load_training_set
from .trainer import AlterTrainer, TrainerCallback

__all__ = ["TrialResult", "train_alter", "prepare_trainer"]

logger = logging.getLogger("alternas")

@dataclass
class TrialResult:
    """What one ALTER run produced.

    Attributes:
        metrics: quality, MACs and latency of the experts and of the dense teacher.
        plan: the experts and routing table.
        history: training metrics logged every ``train.log_every`` iterations.
        run_dir: where everything was written (``None`` if nothing was written).
    """

    metrics: TrialMetrics
    plan: ExpertPlan
    history: list[dict[str, float]]
    run_dir: Path | None


def prepare_trainer(config: RunConfig | dict[str, Any]) -> AlterTrainer:
    """Validate ``config``, load the backbone and data, and build the trainer (no training yet).

    This is where a run's process-wide torch settings are applied: ``train.threads`` CPU threads,
    and for ``model.compile`` dynamo recompile limits that cover the compiled units.
    """
    config = config if isinstance(config, RunConfig) else RunConfig.model_validate(config)
    bundle = load_bundle(config.model)
    shape = bundle.sample_shape(config.data.resolution)
    training_set = load_training_set(config.data, bundle, shape)
    if config.train.threads is not None:
        torch.set_num_threads(config.train.threads)
    trainer = AlterTrainer(config, bundle, training_set)
    allow_recompiles(trainer.compiled_variants)
    return trainer


def train_alter(
    config: RunConfig | dict[str, Any],
    run_dir: str | Path | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    evaluate: bool = True,
    resume_from: str | Path | None = None,
) -> TrialResult:
    """Train one ALTER model, evaluate it beside its dense teacher, and write the run directory.

    Args:
        config: a :class:`RunConfig` or a dict that validates into one (a recipe's base sections).
        run_dir: output folder; if it holds checkpoints of the same config, training resumes from
            the newest. ``None`` keeps everything in memory.
        callbacks: progress hooks.
        evaluate: sample and score the experts and the teacher after training.
        resume_from: an explicit checkpoint folder to resume from (e.g. one Ray Tune restored).

    Returns:
        The metrics, the :class:`ExpertPlan` and the training history.
    """
    started = time.perf_counter()
    trainer = prepare_trainer(config)
    run_path = Path(run_dir) if run_dir is not None else None
    checkpoint_dir = run_path / RUN_FILES["checkpoints"] if run_path is not None else None
    if run_path is not None:
        run_path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            run_path / RUN_FILES["config"], yaml.safe_dump(trainer.config.model_dump(mode="json"), sort_keys=False)
        )
    candidates = [Path(resume_from)] if resume_from is not None else []
    if checkpoint_dir is not None:
        candidates += [path for path in list_checkpoints(checkpoint_dir) if path not in candidates]
    resume = trainer.resume(candidates)
    if resume is not None:
        logger.info("resumed from %s at step %d", resume, trainer.step)

    history = trainer.fit(callbacks, checkpoint_dir)
    train_seconds = time.perf_counter() - started
    plan = trainer.expert_plan()
    metrics = TrialMetrics()
    if evaluate:
        from .evaluation.prompts import evaluation_conditions
        from .evaluation.trial import evaluate_trial

        metrics, images, scores = evaluate_trial(trainer)
        if run_path is not None:
            write_scores(run_path / RUN_FILES["scores"], scores)
            scale = max(1, 64 // images["experts"].shape[-1])
            save_image_grid(images["experts"][:100], run_path / RUN_FILES["samples"] / "experts.png", 10, scale)
            save_image_grid(images["teacher"][:100], run_path / RUN_FILES["samples"] / "teacher.png", 10, scale)
            shown = evaluation_conditions(trainer.bundle.conditioner, trainer.config.eval, len(images["experts"][:100]))
            atomic_write_text(run_path / RUN_FILES["samples"] / SAMPLE_CONDITIONS, json.dumps([str(c) for c in shown]))
    metrics.train_seconds = train_seconds
    metrics.hard_macs_share_planned = plan.macs.share
    metrics.target_macs_share = trainer.config.budget.macs_share

    if run_path is not None:
        plan.save(run_path / RUN_FILES["plan"])
        write_metrics(run_path, metrics)
        atomic_write_text(run_path / RUN_FILES["history"], json.dumps(history))
        with atomic_dir(run_path / RUN_FILES["backbone"]) as staging:
            trainer.student.save_pretrained(staging)
    return TrialResult(metrics=metrics, plan=plan, history=history, run_dir=run_path)
