"""Quality scores below the trainer: per-image scores of a metric and intervals on it."""

from .scores import (
    Interval,
    SampleScores,
    frechet_distance,
    interval,
    paired_interval,
    read_scores,
    standard_error,
    write_scores,
)

__all__ = [
    "Interval",
    "SampleScores",
    "frechet_distance",
    "interval",
    "paired_interval",
    "read_scores",
    "standard_error",
    "write_scores",
]
