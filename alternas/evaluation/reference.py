"""What every model of one evaluation config is scored with, and the dense teacher's cached reference.

Trials and the step-count baseline both go through :func:`evaluation_inputs` and
:func:`teacher_reference`, so the dense teacher at a given step count scores the same numbers whether a
trial or the baseline measured it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .._atomic import atomic_path
from .._cache import cache_root, config_hash, file_lock
from ..bundle import ModelBundle
from ..config import RunConfig
from ..metrics import metric_spec
from ..quality import SampleScores
from ..samplers import get_sampler
from .evaluate import QualityScores, evaluation_noise, generate_for_eval, quality_scores
from .prompts import evaluation_conditions
from ..quality.image_metrics import QualityMetric
from .sampling import Predictor

__all__ = ["EvaluationInputs", "evaluation_inputs", "teacher_reference"]

logger = logging.getLogger("alternas")


@dataclass
class EvaluationInputs:
    """The evaluation noise, conditions and quality metrics of one run config.

    Attributes:
        noise: the evaluation noise, ``(eval.num_samples, C, H, W)``, on the evaluation device.
        conditions: one condition (class label or prompt) per noise sample.
        metrics: the quality metrics of ``eval.metrics`` other than those measured against the teacher
            (:attr:`~alternas.metrics.MetricSpec.against_teacher`: PSNR, SSIM).
        guidance: whether classifier-free guidance runs (two forwards per step: generation MACs x2).
    """

    noise: torch.Tensor
    conditions: list[Any]
    metrics: list[QualityMetric]
    guidance: bool


def evaluation_inputs(
    bundle: ModelBundle, config: RunConfig, sample_shape: Sequence[int], device: torch.device
) -> EvaluationInputs:
    """The inputs every model evaluated with ``config.eval`` shares (noise seeded by ``eval.seed``)."""
    eval_config = config.eval
    wanted = [name for name in eval_config.metrics if not metric_spec(name).against_teacher]
    return EvaluationInputs(
        noise=evaluation_noise(eval_config, sample_shape, device),
        conditions=evaluation_conditions(bundle.conditioner, eval_config),
        metrics=bundle.make_quality_metrics(wanted, eval_config) if bundle.make_quality_metrics else [],
        guidance=eval_config.guidance_scale > 1.0 and bundle.conditioner.supports_guidance,
    )


def teacher_reference(
    bundle: ModelBundle, config: RunConfig, teacher: Predictor, inputs: EvaluationInputs
) -> tuple[torch.Tensor, QualityScores]:
    """The dense teacher's images (``[0, 1]``, ``(N, C, H, W)``) and quality for ``config.eval``.

    Cached on disk under the alternas cache, keyed by everything that changes them (model, data,
    evaluation settings including the step count, noise shape, conditions); concurrent trials wait on
    a lock instead of computing the same reference twice.
    """
    eval_config = config.eval
    key = config_hash(
        {
            "source": bundle.source,
            "model": config.model.model_dump(mode="json"),
            "eval": eval_config.model_dump(
                mode="json", exclude={"latency_repeats", "latency_batch_size", "batch_size"}
            ),
            "sampler": {**get_sampler(eval_config.scheduler).settings},  # what the name means today
            "shape": list(inputs.noise.shape),
            "data": config.data.model_dump(mode="json"),  # FID's real images
            "conditions": config_hash([str(condition) for condition in inputs.conditions]),
        }
    )
    path = cache_root() / "references" / f"{key}.pt"
    wanted = {name for metric in inputs.metrics for name in metric.names}
    with file_lock(path.with_suffix(".lock")):
        if path.is_file():
            try:
                cached = torch.load(path, map_location="cpu", weights_only=True)
                current = "samples" in cached and all(s.get("strata") is not None for s in cached["samples"].values())
                if set(cached["quality"]) >= wanted and current:
                    samples = {name: SampleScores.from_dict(data) for name, data in cached["samples"].items()}
                    return cached["images"], QualityScores(cached["quality"], samples)
            except Exception:  # a torn cache file is recomputed (and one written before per-image scores)
                logger.warning("ignoring unreadable teacher reference cache %s", path)
        images = generate_for_eval(teacher, bundle, eval_config, inputs.noise, inputs.conditions)
        quality = quality_scores(inputs.metrics, images, inputs.conditions)
        payload = {"images": images, "quality": quality.values,
                   "samples": {name: sample.to_dict() for name, sample in quality.samples.items()}}
        with atomic_path(path) as partial:
            torch.save(payload, partial)
    return images, quality
