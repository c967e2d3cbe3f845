"""Evaluate a trained ALTER model beside its dense teacher: same noise, same sampler, same metrics."""

from __future__ import annotations

import torch

from ..macs import generation_macs
from ..metrics import TrialMetrics, metric_spec
from ..quality import SampleScores
from ..routing import ExpertRouter, RoutingTable
from ..trainer import AlterTrainer
from .evaluate import generate_for_eval, image_similarity, measure_latencies, measure_step_macs, quality_scores
from .reference import evaluation_inputs, teacher_reference
from .sampling import Predictor, dense_predictor, routed_predictor

__all__ = ["evaluate_trial", "probe_trial"]


def evaluate_trial(
    trainer: AlterTrainer,
) -> tuple[TrialMetrics, dict[str, torch.Tensor], dict[str, dict[str, SampleScores]]]:
    """Score the trained experts and the dense teacher.

    Returns:
        ``(metrics, images, scores)``: the quality, measured MACs and latency of the experts and of the
        teacher (``teacher_*``), the speedups and the evaluation protocol; the generated images
        (``experts``, ``teacher``: ``[0, 1]``, ``(N, C, H, W)``); and, for both, the per-image scores of
        the quality metrics that offer them (``{"experts": {metric: scores}, "teacher": ...}``).
    """
    config = trainer.config.eval
    bundle = trainer.bundle
    device = trainer.device
    shape = trainer.training_set.sample_shape
    inputs = evaluation_inputs(bundle, trainer.config, shape, device)
    noise, conditions = inputs.noise, inputs.conditions

    router, routed, teacher = _predictors(trainer, trainer.keep)
    convention = trainer.costs.convention

    with trainer.evaluation_mode():
        teacher_images, teacher_quality = teacher_reference(bundle, trainer.config, teacher, inputs)
        expert_images = generate_for_eval(routed, bundle, config, noise, conditions)
        expert_quality = quality_scores(inputs.metrics, expert_images, conditions)

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

    similarity: dict[str, float] = {}
    if any(metric_spec(name).against_teacher for name in config.metrics):
        similarity = {k: v for k, v in image_similarity(expert_images, teacher_images).items() if k in config.metrics}
    metrics = TrialMetrics(
        **expert_quality.values,
        **similarity,
        **{f"teacher_{k}": v for k, v in teacher_quality.values.items()},
        macs_per_step=sum(expert_macs) / len(expert_macs),
        macs_share=sum(expert_macs) / sum(teacher_macs),
        generation_macs=generation_macs(expert_macs, inputs.guidance),
        latency_s=expert_latency,
        experts_in_use=len(router.table.lookup(trainer.sampler_timesteps).unique()),
        routing_intervals_max=max(router.table.intervals_per_expert()),
        teacher_macs_per_step=sum(teacher_macs) / len(teacher_macs),
        teacher_generation_macs=generation_macs(teacher_macs, inputs.guidance),
        teacher_latency_s=teacher_latency,
        speedup=teacher_latency / expert_latency,
        ideal_speedup=sum(teacher_macs) / sum(expert_macs),
        steps=config.steps,
        scheduler=config.scheduler,
        guidance_scale=config.guidance_scale,
        num_samples=config.num_samples,
        latency_batch_size=len(latency_noise),
    )
    scores = {"experts": expert_quality.samples, "teacher": teacher_quality.samples}
    return metrics, {"experts": expert_images, "teacher": teacher_images}, scores



def probe_trial(trainer: AlterTrainer, num_samples: int) -> TrialMetrics:
    """A cheap evaluation of the experts as they are now (a successive-halving rung).

    The first ``num_samples`` of the evaluation noise and conditions (the same for every trial) are
    sampled with the current routing and the hard masks settled onto the budget
    (:meth:`AlterTrainer.settled_keep`: what the run would export if it stopped here); the torch random
    state is restored after, so probing does not change the rest of the training.

    Returns:
        The quality metrics of those samples (``eval.metrics`` without ``psnr`` / ``ssim``), the measured
        ``generation_macs`` and the dense teacher's ``teacher_generation_macs`` (MACs per sample).
    """
    config = trainer.config.eval
    bundle, device = trainer.bundle, trainer.device
    shape = trainer.training_set.sample_shape
    inputs = evaluation_inputs(bundle, trainer.config, shape, device)
    noise, conditions = inputs.noise[:num_samples], inputs.conditions[:num_samples]
    _, routed, teacher = _predictors(trainer, trainer.settled_keep())
    convention = trainer.costs.convention
    rng = torch.get_rng_state()
    try:
        with trainer.evaluation_mode():
            images = generate_for_eval(routed, bundle, config, noise, conditions)
            quality = quality_scores(inputs.metrics, images, conditions)
            expert_macs = measure_step_macs(routed, bundle, config, shape, device, convention)
            teacher_macs = measure_step_macs(teacher, bundle, config, shape, device, convention)
    finally:
        torch.set_rng_state(rng)
    return TrialMetrics(
        **quality.values,
        generation_macs=generation_macs(expert_macs, inputs.guidance),
        teacher_generation_macs=generation_macs(teacher_macs, inputs.guidance),
    )


def _predictors(trainer: AlterTrainer, keep: torch.Tensor) -> tuple[ExpertRouter, Predictor, Predictor]:
    """The experts' router (``keep`` masks of shape ``(N_e, N_L)``, current routing), the routed experts
    and the dense teacher."""
    router = ExpertRouter(keep, RoutingTable(trainer.assignment, trainer.hypernet.num_experts))
    return router, routed_predictor(trainer.adapter, trainer.gates, router), dense_predictor(trainer.teacher_adapter)
