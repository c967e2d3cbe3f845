"""Each quality metric is declared once (``alternas.metrics.METRIC_SPECS``); the rest reads the declaration."""

from __future__ import annotations

from types import SimpleNamespace
from typing import get_args

import pytest
import torch

from alternas.config import ReportConfig, RunConfig
from alternas.evaluation.reference import evaluation_inputs
from alternas.exceptions import ConfigError
from alternas.metrics import (
    LOWER_IS_BETTER,
    METRIC_SPECS,
    QUALITY_METRICS,
    QualityMetricName,
    TrialMetrics,
    metric_name,
    quality_label,
)
from alternas.report.winner import FewestMacsWithinQuality


def test_directions_labels_and_teacher_values_come_from_the_declarations():
    assert tuple(METRIC_SPECS) == QUALITY_METRICS == get_args(QualityMetricName)
    assert LOWER_IS_BETTER == {"fid"}
    assert metric_name("psnr") == "PSNR (dB)" and quality_label("fid") == "FID (lower is better)"
    measured = TrialMetrics(teacher_fid=3.0, teacher_accuracy=0.9)
    assert measured.teacher_quality("fid") == 3.0 and measured.teacher_quality("accuracy") == 0.9
    assert measured.teacher_quality("ssim") == 1.0 and measured.teacher_quality("psnr") is None


def test_a_rule_that_needs_a_teacher_value_refuses_a_metric_without_one_and_names_those_with_one():
    with pytest.raises(ConfigError, match=r"psnr` is measured against the teacher .* fid, accuracy, ssim, clip"):
        FewestMacsWithinQuality(ReportConfig(quality_metric="psnr"))
    FewestMacsWithinQuality(ReportConfig(quality_metric="ssim"))  # its teacher value is declared: 1


def test_metrics_measured_against_the_teacher_are_not_asked_of_the_models_own_metrics():
    asked: list[list[str]] = []
    bundle = SimpleNamespace(
        make_quality_metrics=lambda names, eval_config: asked.append(list(names)) or [],
        conditioner=SimpleNamespace(supports_guidance=False, evaluation_conditions=lambda count: list(range(count))),
    )
    config = RunConfig.model_validate({"eval": {"metrics": ["fid", "psnr", "ssim", "accuracy"], "num_samples": 4}})
    evaluation_inputs(bundle, config, (1, 4, 4), torch.device("cpu"))
    assert asked == [["fid", "accuracy"]]
