"""The quality metrics a trial can be scored with: their names, display labels and better direction."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "QualityMetricName",
    "QUALITY_METRICS",
    "LOWER_IS_BETTER",
    "lower_is_better",
    "metric_name",
    "quality_label",
]

#: a quality metric's name, as recipes write it (``eval.metrics``, ``report.quality_metric``)
QualityMetricName = Literal["fid", "accuracy", "psnr", "ssim", "clip"]

#: every quality metric, in display order
QUALITY_METRICS: tuple[str, ...] = get_args(QualityMetricName)

#: quality metrics where a lower value is better (every other one: higher is better)
LOWER_IS_BETTER = frozenset({"fid"})

_LABELS = {"fid": "FID", "accuracy": "accuracy", "psnr": "PSNR (dB)", "ssim": "SSIM", "clip": "CLIP score"}


def lower_is_better(metric: str) -> bool:
    """Whether a lower value of ``metric`` is better (``True`` for FID)."""
    return metric in LOWER_IS_BETTER


def metric_name(metric: str) -> str:
    """Display name of a quality metric, e.g. ``"FID"``."""
    return _LABELS.get(metric, metric)


def quality_label(metric: str) -> str:
    """Display name of a quality metric with its direction, e.g. ``"FID (lower is better)"``."""
    return f"{metric_name(metric)} ({'lower' if lower_is_better(metric) else 'higher'} is better)"
