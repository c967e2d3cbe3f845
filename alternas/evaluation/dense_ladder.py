"""Measure the step-count baseline: the dense teacher at several sampler step counts under one or more
samplers, scored as trials are.

Each rung is evaluated through the same code as a trial's teacher (:func:`evaluation_inputs`,
:func:`teacher_reference`, :func:`measure_step_macs`), with the run config's evaluation noise, sampler,
guidance and metrics and only ``eval.steps`` changed, so its numbers equal the ``teacher_*`` metrics of
a trial evaluated at that step count (and share their on-disk cache).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field

from ..backbones import adapter_for
from ..config import RunConfig
from ..macs import generation_macs
from ..runtime import PRECISIONS, resolve_device
from ..sources import load_bundle, load_training_set
from ..quality import SampleScores
from .evaluate import QualityScores, generate_for_eval, measure_latencies, measure_step_macs
from .reference import evaluation_inputs, teacher_reference
from .sampling import dense_predictor

__all__ = ["BaselinePoint", "measure_baseline"]


class BaselinePoint(BaseModel):
    """The dense teacher with one sampler at one step count."""

    model_config = ConfigDict(extra="forbid")

    sampler: str | None = Field(None, description="sampler name (None in files of format 1: the baseline's `scheduler`)")
    steps: int = Field(description="sampler steps")
    quality: dict[str, float] = Field(description="quality metrics of `eval.metrics` (PSNR/SSIM excluded)")
    macs_per_step: float = Field(description="MACs of one sampler step for one sample, without guidance")
    generation_macs: float = Field(description="total MACs of generating one image (all steps, x2 with guidance)")
    latency_s: float = Field(description="median sampling time of one `eval.latency_batch_size` batch, seconds")

    @property
    def key(self) -> str:
        """``"unipc@4"``: the point's key in the baseline's per-image scores file."""
        return f"{self.sampler}@{self.steps}"


def measure_baseline(
    config: RunConfig, steps: Sequence[int], samplers: Sequence[str] | None = None
) -> tuple[list[BaselinePoint], dict[str, dict[str, SampleScores]]]:
    """Score the dense teacher of ``config`` at each sampler step count of ``steps``, under each sampler.

    Args:
        config: a run config (a trial's, or the recipe's fixed sections); its ``eval.scheduler`` and
            ``eval.steps`` are replaced by each sampler and count in turn, its ``budget.convention`` says
            how MACs are counted and ``train.threads`` how many CPU threads torch times the latencies with
            (as in a trial, so that they compare); the images are generated with every thread torch has.
        steps: the sampler step counts.
        samplers: names of :data:`~alternas.samplers.SAMPLERS` (default: ``config.eval.scheduler``). The
            model, its evaluation noise and metrics are set up once for all of them.

    Returns:
        One point per sampler and step count, by sampler (in the order of ``samplers``), then in the
        order of ``steps``; and each point's per-image quality scores by :attr:`BaselinePoint.key`.
    """
    return _measure(config, steps, list(samplers or [config.eval.scheduler]))


def _measure(
    config: RunConfig, steps: Sequence[int], samplers: list[str]
) -> tuple[list[BaselinePoint], dict[str, dict[str, SampleScores]]]:
    """:func:`measure_baseline` with its arguments checked."""
    device = resolve_device(config.train.device)
    bundle = load_bundle(config.model)
    shape = bundle.sample_shape(config.data.resolution)
    model = bundle.backbone.to(device).eval().requires_grad_(False)
    if device.type == "cuda":
        model.to(PRECISIONS[config.model.teacher_precision])
    teacher = dense_predictor(adapter_for(model))
    load_training_set(config.data, bundle, shape)  # as a trial does: fills a real model's FID reference images
    inputs = evaluation_inputs(bundle, config, shape, device)  # the sampler and step count do not change them
    rungs = {
        (sampler, count): config.model_copy(
            update={"eval": config.eval.model_copy(update={"scheduler": sampler, "steps": count})}
        )
        for sampler in samplers
        for count in steps
    }
    measured: dict[tuple[str, int], tuple[QualityScores, list[float]]] = {}
    for key, rung in rungs.items():
        _, quality = teacher_reference(bundle, rung, teacher, inputs)
        step_macs = measure_step_macs(teacher, bundle, rung.eval, shape, device, config.budget.convention)
        measured[key] = (quality, step_macs)
    batch = config.eval.latency_batch_size
    noise, conditions = inputs.noise[:batch], inputs.conditions[:batch]
    threads = torch.get_num_threads()
    if config.train.threads is not None:
        torch.set_num_threads(config.train.threads)
    try:
        latency = measure_latencies(
            {
                f"{sampler} {count}": (lambda rung=rung: generate_for_eval(teacher, bundle, rung.eval, noise, conditions))
                for (sampler, count), rung in rungs.items()
            },
            config.eval.latency_repeats,
            synchronize=device.type == "cuda",
        )
    finally:
        torch.set_num_threads(threads)
    points = [
        BaselinePoint(
            sampler=sampler,
            steps=count,
            quality=quality.values,
            macs_per_step=sum(step_macs) / len(step_macs),
            generation_macs=generation_macs(step_macs, inputs.guidance),
            latency_s=latency[f"{sampler} {count}"],
        )
        for (sampler, count), (quality, step_macs) in measured.items()
    ]
    return points, {point.key: measured[point.sampler, point.steps][0].samples for point in points}
