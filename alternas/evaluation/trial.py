"""Evaluate a trained ALTER model beside its dense teacher: same noise, same sampler, same metrics."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from .._atomic import atomic_path
from .._cache import cache_root, config_hash, file_lock
from ..trainer import AlterTrainer
from .evaluate import (
    evaluation_noise,
    generate_for_eval,
    image_similarity,
    measure_latencies,
    measure_step_macs,
    quality_scores,
)
from .prompts import evaluation_conditions
from .quality import QualityMetric
from .sampling import ExpertRouter, Predictor, dense_predictor, routed_predictor

__all__ = ["evaluate_trial"]

logger = logging.getLogger("alternas")


def evaluate_trial(trainer: AlterTrainer) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Score the trained experts and the dense teacher.

    Returns:
        ``(metrics, images)``: metrics of the experts (``fid``, ``accuracy``, ``psnr``, ``ssim``,
        measured ``macs_per_step``, ``macs_share``, ``generation_macs``, ``latency_s``, ...) and of
        the teacher (same keys prefixed ``teacher_``), plus ``speedup``; and the generated images
        (``experts``, ``teacher``: ``[0, 1]``, ``(N, C, H, W)``).
    """
    config = trainer.config.eval
    bundle = trainer.bundle
    device = trainer.device
    shape = trainer.training_set.sample_shape
    noise = evaluation_noise(config, shape, device)
    conditions = evaluation_conditions(bundle.conditioner, config)
    wanted = [name for name in config.metrics if name not in ("psnr", "ssim")]
    metrics_objects = bundle.make_quality_metrics(wanted, config) if bundle.make_quality_metrics else []
    guidance = config.guidance_scale > 1.0 and bundle.conditioner.supports_guidance

    router = ExpertRouter(trainer.keep.cpu(), trainer.assignment.cpu())
    routed = routed_predictor(trainer.adapter, trainer.gates, router)
    teacher = dense_predictor(trainer.teacher_adapter)
    convention = trainer.costs.convention

    with trainer.evaluation_mode():
        teacher_images, teacher_quality = _teacher_reference(trainer, teacher, noise, conditions, metrics_objects)
        expert_images = generate_for_eval(routed, bundle, config, noise, conditions)
        expert_quality = quality_scores(metrics_objects, expert_images, conditions)

        expert_macs = measure_step_macs(routed, bundle, config, shape, device, convention)
        teacher_macs = measure_step_macs(teacher, bundle, config, shape, device, convention)

        latency_noise = noise[: config.latency_batch_size]
        latency_conditions = conditions[: config.latency_batch_size]
        latency = measure_latencies(
            {
                "teacher": lambda: generate_for_eval(teacher, bundle, config, latency_noise, latency_conditions),
                "experts": lambda: generate_for_eval(routed, bundle, config, latency_noise, latency_conditions),
            },
            config.latency_repeats,
            synchronize=device.type == "cuda",
        )
        teacher_latency, expert_latency = latency["teacher"], latency["experts"]

    factor = 2.0 if guidance else 1.0
    metrics: dict[str, Any] = dict(expert_quality)
    if "psnr" in config.metrics or "ssim" in config.metrics:
        similarity = image_similarity(expert_images, teacher_images)
        metrics.update({k: v for k, v in similarity.items() if k in config.metrics})
    metrics.update(
        macs_per_step=sum(expert_macs) / len(expert_macs),
        macs_share=sum(expert_macs) / sum(teacher_macs),
        generation_macs=sum(expert_macs) * factor,
        latency_s=expert_latency,
        experts_in_use=len(set(router.expert_for(t) for t in trainer.sampler_timesteps)),
    )
    metrics.update({f"teacher_{k}": v for k, v in teacher_quality.items()})
    metrics.update(
        teacher_macs_per_step=sum(teacher_macs) / len(teacher_macs),
        teacher_generation_macs=sum(teacher_macs) * factor,
        teacher_latency_s=teacher_latency,
        speedup=teacher_latency / expert_latency,
        ideal_speedup=sum(teacher_macs) / sum(expert_macs),
        steps=config.steps,
        scheduler=config.scheduler,
        guidance_scale=config.guidance_scale,
        num_samples=config.num_samples,
        latency_batch_size=len(latency_noise),
    )
    return metrics, {"experts": expert_images, "teacher": teacher_images}


def _teacher_reference(
    trainer: AlterTrainer,
    teacher: Predictor,
    noise: torch.Tensor,
    conditions: Sequence[Any],
    metrics_objects: Sequence[QualityMetric],
) -> tuple[torch.Tensor, dict[str, float]]:
    """The teacher's images and quality for this eval config, cached on disk across trials."""
    config = trainer.config.eval
    key = config_hash(
        {
            "source": trainer.bundle.source,
            "model": trainer.config.model.model_dump(mode="json"),
            "eval": config.model_dump(
                mode="json", exclude={"latency_repeats", "latency_batch_size", "batch_size"}
            ),
            "shape": list(noise.shape),
            "data": trainer.config.data.model_dump(mode="json"),  # FID's real images
            "conditions": config_hash([str(condition) for condition in conditions]),
        }
    )
    path = cache_root() / "references" / f"{key}.pt"
    if path.is_file():
        try:
            cached = torch.load(path, map_location="cpu", weights_only=True)
            if set(cached["quality"]) >= {name for m in metrics_objects for name in m.names}:
                return cached["images"], cached["quality"]
        except Exception:  # a torn cache file is recomputed
            logger.warning("ignoring unreadable teacher reference cache %s", path)
    images = generate_for_eval(teacher, trainer.bundle, config, noise, conditions)
    quality = quality_scores(metrics_objects, images, conditions)
    with file_lock(path.with_suffix(".lock")), atomic_path(path) as partial:  # trials finish together
        torch.save({"images": images, "quality": quality}, partial)
    return images, quality
