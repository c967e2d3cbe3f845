"""Turn a :class:`~alternas.config.DataConfig` into a :class:`TrainingSet` for a bundle."""

from __future__ import annotations

from ..bundle import ModelBundle
from ..config import DataConfig
from ..exceptions import DataError
from .digits import load_digits_tensors
from .training_set import TrainingSet

__all__ = ["load_training_set"]


def load_training_set(config: DataConfig, bundle: ModelBundle, sample_shape: tuple[int, int, int]) -> TrainingSet:
    """Load the training data and encode it for ``bundle``'s backbone.

    Args:
        config: the data section.
        bundle: the model bundle (its conditioner encodes labels/captions, its VAE images).
        sample_shape: the backbone's ``(C, H, W)`` input at the run's resolution.
    """
    if config.source == "builtin:digits":
        return _digits_training_set(config, bundle, sample_shape)
    if config.source.startswith("builtin:"):
        raise DataError(f"unknown builtin dataset `{config.source}`; available: builtin:digits")
    from ..pipelines.datasets import load_pipeline_training_set

    return load_pipeline_training_set(config, bundle, sample_shape)


def _digits_training_set(
    config: DataConfig, bundle: ModelBundle, sample_shape: tuple[int, int, int]
) -> TrainingSet:
    if bundle.encode is not None or sample_shape[0] != 1:
        raise DataError(
            "`builtin:digits` is 1-channel pixel data; it needs a pixel-space backbone with "
            f"in_channels=1 (this one takes {sample_shape})"
        )
    images, labels = load_digits_tensors(sample_shape[-1])
    if config.max_items is not None:
        images, labels = images[: config.max_items], labels[: config.max_items]
    conditions = bundle.conditioner.encode(labels.tolist(), "cpu")
    return TrainingSet(images, conditions, labels)
