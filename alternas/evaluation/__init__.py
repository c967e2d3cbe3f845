"""Evaluation: sampling, quality metrics, similarity to the teacher, measured MACs and latency."""

from .evaluate import (
    evaluation_noise,
    generate_for_eval,
    image_similarity,
    measure_latencies,
    measure_step_macs,
    quality_scores,
)
from .quality import ClassConsistency, FrechetDistance, QualityMetric
from .sampling import (
    SCHEDULERS,
    ExpertRouter,
    Predictor,
    denoise,
    dense_predictor,
    generate,
    make_scheduler,
    routed_predictor,
    sampler_timesteps,
)

__all__ = [
    "SCHEDULERS",
    "ClassConsistency",
    "ExpertRouter",
    "FrechetDistance",
    "Predictor",
    "QualityMetric",
    "denoise",
    "dense_predictor",
    "evaluation_noise",
    "generate",
    "generate_for_eval",
    "image_similarity",
    "make_scheduler",
    "measure_latencies",
    "measure_step_macs",
    "quality_scores",
    "routed_predictor",
    "sampler_timesteps",
]
