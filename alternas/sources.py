"""Where a run's model and data come from: the one place that chooses between the built-in zoo
(:mod:`alternas.zoo`, :mod:`alternas.data`) and real diffusers pipelines (:mod:`alternas.pipelines`).

What a config names is parsed once, in the config itself (:attr:`ModelConfig.builtin_name`,
:attr:`DataConfig.source_kind`); the loaders below only dispatch on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .bundle import ModelBundle
from .config import DataConfig, ModelConfig, RunConfig
from .data.digits_data import digits_training_set
from .data.training_set import TrainingSet
from .exceptions import DataError
from .pipelines import load_pipeline_bundle, load_pipeline_training_set
from .pipelines.datasets import encode_training_data
from .zoo import load_builtin

__all__ = ["load_bundle", "load_training_set", "preencode"]

#: built-in data sets and what they are
BUILTIN_DATA = {"digits": "scikit-learn's 8x8 handwritten digits with their labels"}


def load_bundle(config: ModelConfig) -> ModelBundle:
    """The :class:`ModelBundle` a model config names: a built-in (pretrained and cached on first use)
    or a diffusers pipeline folder / cached Hugging Face id."""
    if config.builtin_name is not None:
        return load_builtin(config.builtin_name, config.builtin)
    return load_pipeline_bundle(config)


def load_training_set(config: DataConfig, bundle: ModelBundle, sample_shape: tuple[int, int, int]) -> TrainingSet:
    """Load the training data and encode it for ``bundle``'s backbone.

    Args:
        config: the data section.
        bundle: the model bundle (its conditioner encodes labels/captions, its codec images).
        sample_shape: the backbone's ``(C, H, W)`` input at the run's resolution.

    Raises:
        DataError: the data is unknown, missing or does not fit the backbone.
    """
    if config.source_kind != "builtin":
        return load_pipeline_training_set(config, bundle, sample_shape)
    if config.source_name != "digits":
        available = ", ".join(f"builtin:{name}" for name in BUILTIN_DATA)
        raise DataError(f"unknown builtin dataset `{config.source}`; available: {available}")
    return digits_training_set(config, bundle, sample_shape)


def preencode(config: RunConfig | dict[str, Any]) -> Path:
    """Pre-encode a run's training data (latents, text embeddings, reference images) into the cache.

    Running it once before a search means no trial waits for the VAE or the text encoder.

    Returns:
        The cache folder.
    """
    config = config if isinstance(config, RunConfig) else RunConfig.model_validate(config)
    bundle = load_bundle(config.model)
    return encode_training_data(config.data, bundle, bundle.sample_shape(config.data.resolution)).directory
