"""Evaluation: sampling, quality metrics, similarity to the teacher, measured MACs and latency."""

from ..routing import ExpertRouter
from ..samplers import SAMPLERS, make_scheduler, sampler_timesteps
from .evaluate import (
    evaluation_noise,
    generate_for_eval,
    image_similarity,
    measure_latencies,
    measure_step_macs,
    quality_scores,
)
from ..quality.image_metrics import ClassConsistency, FrechetDistance, QualityMetric
from .sampling import Predictor, denoise, dense_predictor, generate, routed_predictor

__all__ = [
    "SAMPLERS",
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
