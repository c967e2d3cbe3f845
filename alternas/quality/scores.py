"""Per-image scores of a quality metric, and intervals on the metric from them.

A metric value computed on N evaluation images is one draw: other noise would give another. To put an
interval on it, alternas keeps what the value is computed from, image by image (:class:`SampleScores`:
the FID features of each image, or each image's own score), and takes each image's *influence* on the
value: the first-order change of the metric when the images' distribution moves toward that image (the
delta method, or infinitesimal jackknife). The value's standard error is the sd of the influences over
the images divided by sqrt(N). Two models evaluated on the same noise and conditions are compared
*paired* (:func:`paired_interval`): the influences are subtracted image by image, so the noise the two
share cancels and only the part that differs between them is left.

For FID the influence needs one symmetric eigendecomposition per model (d x d; d = 64 for the digits,
2048 for Inception), so intervals cost about what the FID itself does. A bootstrap over the images
would cost a decomposition per resample, and its duplicated images bias a resampled FID upwards.
``bench/eval_noise.py`` checks these standard errors against the sd over independent evaluation-noise
seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from .._atomic import atomic_path

__all__ = [
    "Interval",
    "SampleScores",
    "frechet_distance",
    "interval",
    "paired_interval",
    "read_scores",
    "standard_error",
    "write_scores",
    "z_value",
]

#: how per-sample scores become the metric: the Fréchet distance of their mean and covariance to the
#: reference's, or their mean
ScoreKind = Literal["frechet", "mean"]


def frechet_distance(
    mean: torch.Tensor, covariance: torch.Tensor, reference_mean: torch.Tensor, reference_covariance: torch.Tensor
) -> torch.Tensor:
    """Fréchet distance between Gaussians, ``|m1 - m2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``.

    Args:
        mean, covariance: ``(d,)`` and ``(d, d)``, float64.
        reference_mean, reference_covariance: ``(d,)`` and ``(d, d)``, float64.

    Returns:
        A float64 scalar. ``tr((S1 S2)^(1/2))`` is the sum of the square roots of the eigenvalues of
        ``S1 S2`` (real and non-negative for covariances), computed as those of the symmetric
        ``S1^(1/2) S2 S1^(1/2)``.
    """
    root = _symmetric_root(reference_covariance)
    product = root @ covariance @ root
    cross = torch.linalg.eigvalsh((product + product.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mean - reference_mean).pow(2).sum()
    return distance + covariance.trace() + reference_covariance.trace() - 2 * cross


def _symmetric_root(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a covariance (negative rounding errors clamped to 0)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


@dataclass
class SampleScores:
    """What one model's value of one quality metric is computed from, image by image.

    Attributes:
        kind: ``"frechet"`` (``values`` are features; the metric is their Fréchet distance to the
            reference) or ``"mean"`` (``values`` are per-image scores; the metric is their mean).
        values: ``(N, d)`` features or ``(N,)`` scores, one row per evaluation image in evaluation order
            (the same noise and condition for every model scored with the same evaluation config).
        reference: for ``"frechet"``: ``(mean (d,), covariance (d, d))`` of the real images' features.
        strata: ``(N,)`` int64, the evaluation condition of each image as an index (images of the same
            class label or prompt share one): the conditions are fixed by design, not drawn, so the
            evaluation noise is the spread within conditions (:func:`standard_error`). ``None``: none known.
    """

    kind: ScoreKind
    values: torch.Tensor
    reference: tuple[torch.Tensor, torch.Tensor] | None = None
    strata: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def value(self) -> float:
        """The metric on all the images."""
        values = self.values.double()
        if self.kind == "mean":
            return float(values.mean())
        mean, covariance, reference_mean, reference_covariance = self._moments()
        return float(frechet_distance(mean, covariance, reference_mean, reference_covariance))

    def influence(self) -> torch.Tensor:
        """Each image's first-order influence on :meth:`value`, ``(N,)`` float64 (mean about 0).

        For a mean, ``x_i - mean``. For the Fréchet distance ``|m - m_r|^2 + tr S + tr S_r - 2 tr M^(1/2)``
        with ``M = A S A``, ``A = S_r^(1/2)``, moving the images' distribution toward image ``i`` changes
        ``m`` by ``c_i = f_i - m`` and ``S`` by ``c_i c_i^T - S``, so its influence is
        ``2 (m - m_r) . c_i + |c_i|^2 - tr S - (g_i^T M^(-1/2) g_i - tr M^(1/2))`` with ``g_i = A c_i``
        (``M^(-1/2)`` on the range of ``M``, where every ``g_i`` lies).
        """
        values = self.values.double()
        if self.kind == "mean":
            return values - values.mean()
        mean, covariance, reference_mean, reference_covariance = self._moments()
        root = _symmetric_root(reference_covariance)
        centred = values - mean
        product = root @ covariance @ root
        eigenvalues, vectors = torch.linalg.eigh((product + product.T) / 2)
        kept = eigenvalues > eigenvalues.max().clamp(min=0) * 1e-10
        inverse_root = (vectors[:, kept] * eigenvalues[kept].rsqrt()) @ vectors[:, kept].T
        projected = centred @ root
        quadratic = ((projected @ inverse_root) * projected).sum(1)
        trace_root = eigenvalues[kept].sqrt().sum()
        return (
            2 * centred @ (mean - reference_mean)
            + centred.pow(2).sum(1)
            - covariance.trace()
            - (quadratic - trace_root)
        )

    def _moments(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean and covariance of the features, and the reference's (float64)."""
        if self.reference is None:
            raise ValueError("Fréchet scores need the reference's mean and covariance")
        values = self.values.double()
        mean = values.mean(0)
        centred = values - mean
        reference_mean, reference_covariance = (t.double() for t in self.reference)
        return mean, centred.T @ centred / (len(values) - 1), reference_mean, reference_covariance

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "values": self.values, "reference": list(self.reference or []), "strata": self.strata}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleScores:
        reference = data.get("reference") or None
        return cls(data["kind"], data["values"], tuple(reference) if reference else None, data.get("strata"))


@dataclass(frozen=True)
class Interval:
    """A value and its confidence interval.

    Attributes:
        value: measured on all images (for a paired interval: the difference of the two values).
        low, high: the interval's ends, ``value -/+ z * sd``.
        sd: the value's standard error.
        confidence: the interval's nominal coverage, e.g. 0.95.
    """

    value: float
    low: float
    high: float
    sd: float
    confidence: float

    def excludes_zero(self) -> bool:
        """Whether the interval lies on one side of 0."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high, "sd": self.sd, "confidence": self.confidence}


def z_value(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence`` (1.96 for 0.95)."""
    return math.sqrt(2) * float(torch.special.erfinv(torch.tensor(confidence, dtype=torch.float64)))


def standard_error(influence: torch.Tensor, strata: torch.Tensor | None = None) -> float:
    """The standard error of a value whose per-image influences are ``influence`` (``(N,)``).

    With ``strata`` (each image's condition index), the conditions count as fixed, as they are in an
    evaluation (e.g. the digits' labels cycle 0-9): the variance is the pooled spread of the influences
    within conditions, ``sum (IF_i - mean of its condition)^2 / (N - G) / N``. Without them, or when most
    images have a condition of their own (fewer than N / 10 degrees of freedom within conditions), the
    images count as drawn at random: ``sd(IF) / sqrt(N)``.
    """
    count = len(influence)
    if strata is not None:
        groups, index = torch.unique(strata, return_inverse=True)
        dof = count - len(groups)
        if dof >= max(2, count // 10):
            means = torch.zeros(len(groups), dtype=influence.dtype).index_add_(0, index, influence)
            means /= torch.bincount(index, minlength=len(groups)).to(influence.dtype)
            return float(((influence - means[index]).pow(2).sum() / dof / count).sqrt())
    return float(influence.std() / math.sqrt(count))


def _interval(value: float, sd: float, confidence: float) -> Interval:
    half = z_value(confidence) * sd
    return Interval(value, value - half, value + half, sd, confidence)


def interval(scores: SampleScores, confidence: float = 0.95) -> Interval:
    """The metric on all images with its interval over the evaluation noise."""
    return _interval(scores.value(), standard_error(scores.influence(), scores.strata), confidence)


def paired_interval(scores: SampleScores, other: SampleScores, confidence: float = 0.95) -> Interval:
    """``scores`` minus ``other`` (scored on the same evaluation images) with its paired interval.

    Raises:
        ValueError: the two were not scored on the same number of images.
    """
    if len(scores) != len(other):
        raise ValueError(f"paired scores need the same images: {len(scores)} vs {len(other)}")
    difference = scores.influence() - other.influence()
    return _interval(scores.value() - other.value(), standard_error(difference, scores.strata), confidence)


def write_scores(path: Path, scores: Mapping[str, Mapping[str, SampleScores]]) -> Path:
    """Write ``{model: {metric: scores}}`` atomically (e.g. a trial's ``quality_scores.pt``)."""
    payload = {model: {metric: s.to_dict() for metric, s in by_metric.items()} for model, by_metric in scores.items()}
    with atomic_path(path) as partial:
        torch.save(payload, partial)
    return path


def read_scores(path: Path) -> dict[str, dict[str, SampleScores]] | None:
    """``{model: {metric: scores}}`` from :func:`write_scores`; ``None`` when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        return {model: {m: SampleScores.from_dict(d) for m, d in by_metric.items()} for model, by_metric in payload.items()}
    except Exception:  # a damaged file only costs the intervals
        return None
