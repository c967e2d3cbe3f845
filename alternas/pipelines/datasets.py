"""Training data for real pipelines: read a data source, pre-encode it once, and serve it memory-mapped.

:func:`alternas.sources.preencode` runs the encoding ahead of a search.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._cache import cache_root, config_hash
from ..bundle import ClassLabelConditioner, ModelBundle, UnconditionalConditioner
from ..config import DataConfig
from ..data.training_set import TrainingSet
from ..exceptions import DataError
from .conditioners import TextConditioner
from .data_sources import ConditionKind, open_data_source
from .encoded import ENCODED_FORMAT, EncodedData, EncodingJob, encode_to_cache
from .hub import files_fingerprint

__all__ = ["encode_training_data", "load_pipeline_training_set"]


def load_pipeline_training_set(
    config: DataConfig, bundle: ModelBundle, sample_shape: tuple[int, int, int]
) -> TrainingSet:
    """The training set of a pipeline bundle, pre-encoding the data on first use.

    Also fills the bundle's evaluation reference (FID real images, default prompts) from the data.

    Args:
        config: the data section.
        bundle: a bundle from :func:`alternas.pipelines.load_pipeline_bundle`.
        sample_shape: the backbone's ``(C, h, w)`` input at the run's resolution (latents for a VAE).

    Raises:
        DataError: the data is missing, empty, unreadable, lacks a column, or does not fit the model.
    """
    encoded = encode_training_data(config, bundle, sample_shape)
    if bundle.reference is not None:
        bundle.reference.fill(encoded.reference_images, encoded.reference_conditions)
    labels = encoded.conditions.get("class_labels")
    return TrainingSet(encoded.samples, encoded.conditions, labels)


def encode_training_data(
    config: DataConfig, bundle: ModelBundle, sample_shape: tuple[int, int, int]
) -> EncodedData:
    """The pre-encoded data for ``bundle`` at ``sample_shape``, from its cache or encoded now."""
    factor = bundle.spatial_factor
    resolution = sample_shape[-1] * factor
    if sample_shape[-1] != sample_shape[-2]:
        raise DataError(f"alternas trains on square samples, the backbone takes {sample_shape}")
    if config.resolution is not None and config.resolution != resolution:
        raise DataError(
            f"`data.resolution` = {config.resolution} px does not give the backbone's {sample_shape} "
            f"samples with this VAE ({factor}x downsampling): use a multiple of {factor}"
        )
    kind = _condition_kind(bundle)
    source = open_data_source(config, kind)
    try:
        description = {
            "model": _model_fingerprint(bundle, kind),
            "data": {"source": source.description, "fingerprint": source.fingerprint()},
            "options": {
                "resolution": resolution,
                "kind": kind,
                "columns": [config.image_column, config.caption_column, config.label_column],
                "max_items": config.max_items,
                "dtype": config.cache_dtype,
                "reference_images": config.reference_images,
            },
        }
        key = config_hash({"format": ENCODED_FORMAT, **description}, length=16)
        root = Path(config.cache_dir).expanduser() if config.cache_dir else cache_root() / "encoded"
        job = EncodingJob(
            list_items=lambda: source.items()[: config.max_items],
            resolution=resolution,
            encode_images=bundle.encode,
            encode_conditions=bundle.conditioner.encode,
            batch_size=config.encode_batch_size,
            reference_count=config.reference_images,
            dtype=config.cache_dtype,
            description={"source": source.description, "key": key},
        )
        encoded = encode_to_cache(root / key, job)
    finally:
        source.close()
    if tuple(encoded.samples.shape[1:]) != tuple(sample_shape):
        raise DataError(
            f"pre-encoded samples have shape {tuple(encoded.samples.shape[1:])}, the backbone takes "
            f"{tuple(sample_shape)}; check `data.resolution` and the VAE"
        )
    return encoded


def _condition_kind(bundle: ModelBundle) -> ConditionKind:
    conditioner = bundle.conditioner
    if isinstance(conditioner, TextConditioner):
        return "caption"
    if isinstance(conditioner, ClassLabelConditioner):
        return "label"
    if isinstance(conditioner, UnconditionalConditioner):
        return None
    raise DataError(f"real-data loading does not know the conditioner `{type(conditioner).__name__}`")


def _model_fingerprint(bundle: ModelBundle, kind: ConditionKind) -> dict[str, Any]:
    """What the encoding depends on: the VAE and text-encoder files, or the class-name table."""
    directory = bundle.directory
    if directory is None:
        raise DataError(f"real-data loading needs a pipeline folder; `{bundle.source}` was not loaded from one")
    parts = []
    if bundle.codec is not None:
        parts.append(directory / "vae")
    if kind == "caption":
        parts += [directory / "text_encoder", directory / "tokenizer"]
    fingerprint: dict[str, Any] = {"files": files_fingerprint(parts)}
    if kind == "label":
        conditioner = bundle.conditioner
        fingerprint["classes"] = [conditioner.num_classes, sorted(getattr(conditioner, "name_to_id", {}).items())]
    return fingerprint
