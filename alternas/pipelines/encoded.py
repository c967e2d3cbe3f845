"""Pre-encoded training data on disk: VAE latents, encoded conditions and the evaluation reference images.

A dataset is encoded once per (VAE and text-encoder weights, resolution, data, options) and stored as
``.npy`` files that every trial memory-maps, so concurrent trials share one copy in the page cache and
never repeat VAE or text-encoder work. The first process to need an encoding writes it under a file
lock into a staging folder that is renamed into place when complete; the others wait and reuse it.

Layout of ``<cache>/encoded/<key>/``::

    samples.npy                    (N, C, h, w) latents (or pixels in [-1, 1] without a VAE)
    condition.<kwarg>.npy          e.g. condition.encoder_hidden_states.npy (N, L, D),
                                   condition.class_labels.npy (N,)
    reference.npy                  (M, 3, R, R) uint8: the first M real images (FID reference)
    meta.json                      count, shapes, source, the M reference captions/labels, timing
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import atomic_dir
from .._cache import load_or_build
from ..exceptions import DataError
from .data_sources import DataItem, load_image

__all__ = ["ENCODED_FORMAT", "EncodedData", "EncodingJob", "encode_to_cache"]

logger = logging.getLogger("alternas")

#: bump when the encoding procedure changes, so old caches are not reused
ENCODED_FORMAT = 1
_META = "meta.json"
_NUMPY_DTYPES = {"fp16": np.float16, "fp32": np.float32}


@dataclass
class EncodedData:
    """A pre-encoded dataset, memory-mapped from its cache folder.

    Attributes:
        directory: the cache folder.
        samples (`torch.Tensor` of shape `(N, C, h, w)`): model-space samples (fp16 or fp32).
        conditions: backbone forward kwargs per sample, each with first dim ``N``.
        reference_images (`torch.Tensor` of shape `(M, 3, R, R)`, uint8): the first ``M`` real images.
        reference_conditions: the ``M`` captions or class labels of those images.
        meta: the content of ``meta.json``.
    """

    directory: Path
    samples: torch.Tensor
    conditions: dict[str, torch.Tensor]
    reference_images: torch.Tensor
    reference_conditions: list[Any]
    meta: dict[str, Any]

    @classmethod
    def open(cls, directory: Path) -> EncodedData:
        """Memory-map a complete cache folder (copy-on-write: the files are never modified)."""
        meta = json.loads((directory / _META).read_text())

        def load(name: str) -> torch.Tensor:
            return torch.from_numpy(np.load(directory / name, mmap_mode="c"))

        return cls(
            directory=directory,
            samples=load("samples.npy"),
            conditions={key: load(f"condition.{key}.npy") for key in meta["condition_keys"]},
            reference_images=load("reference.npy"),
            reference_conditions=meta["reference_conditions"],
            meta=meta,
        )


@dataclass
class EncodingJob:
    """What to encode and how.

    Attributes:
        list_items: returns the data items, in order (only called when the encoding is written, so a
            cached dataset is never listed again).
        resolution: image side ``R`` in pixels.
        encode_images: images ``(B, 3, R, R)`` in ``[-1, 1]`` -> model samples (the scaled VAE
            encoder); ``None`` keeps pixels.
        encode_conditions: ``(conditions, device)`` -> forward kwargs (the bundle's conditioner).
        batch_size: images per encoding batch.
        reference_count: real images kept for FID (the first ``M = min(N, reference_count)``).
        dtype: ``"fp16"`` or ``"fp32"``, the storage of floating-point arrays.
        description: what was encoded (model, data, options), stored in ``meta.json``.
    """

    list_items: Callable[[], Sequence[DataItem]]
    resolution: int
    encode_images: Callable[[torch.Tensor], torch.Tensor] | None
    encode_conditions: Callable[[list[Any], torch.device], dict[str, torch.Tensor]]
    batch_size: int
    reference_count: int
    dtype: str
    description: dict[str, Any]


def encode_to_cache(directory: Path, job: EncodingJob) -> EncodedData:
    """The encoding in ``directory`` (named by its cache key), written first if it is absent or damaged (once,
    under a file lock)."""
    return load_or_build(directory, EncodedData.open, lambda target: _encode(target, job), "encoded data")


def _encode(directory: Path, job: EncodingJob) -> None:
    started = time.perf_counter()
    items = job.list_items()
    count, resolution = len(items), job.resolution
    if count == 0:
        raise DataError(f"the dataset ({job.description.get('data')}) is empty")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with atomic_dir(directory) as staging:
        logger.info("pre-encoding %d images at %d px into %s", count, resolution, directory)
        reference_total = min(count, job.reference_count)
        reference = np.lib.format.open_memmap(
            staging / "reference.npy", mode="w+", dtype=np.uint8, shape=(reference_total, 3, resolution, resolution)
        )
        arrays: dict[str, np.ndarray] = {}
        for start in range(0, count, job.batch_size):
            batch = items[start : start + job.batch_size]
            pixels = torch.stack([load_image(item, resolution) for item in batch])  # (B, 3, R, R) uint8
            if start < reference_total:
                reference[start : min(start + len(batch), reference_total)] = pixels[: reference_total - start].numpy()
            images = pixels.to(device).float() / 127.5 - 1.0
            encoded = {"samples": job.encode_images(images) if job.encode_images is not None else images}
            condition = job.encode_conditions([item.condition for item in batch], device)
            encoded.update({f"condition.{key}": value for key, value in condition.items()})
            for name, value in encoded.items():
                if name not in arrays:
                    storage = _NUMPY_DTYPES[job.dtype] if value.is_floating_point() else np.int64
                    arrays[name] = np.lib.format.open_memmap(
                        staging / f"{name}.npy", mode="w+", dtype=storage, shape=(count, *value.shape[1:])
                    )
                arrays[name][start : start + len(batch)] = value.detach().cpu().numpy()
            if (start // job.batch_size) % 50 == 0:
                logger.info("pre-encoded %d/%d images", min(start + job.batch_size, count), count)
        for array in (reference, *arrays.values()):
            array.flush()
        meta = {
            "format": ENCODED_FORMAT,
            "count": count,
            "resolution": resolution,
            "sample_shape": list(arrays["samples"].shape[1:]),
            "condition_keys": sorted(name.removeprefix("condition.") for name in arrays if name != "samples"),
            "reference_conditions": [item.condition for item in items[:reference_total]],
            "encode_seconds": time.perf_counter() - started,
            **job.description,
        }
        (staging / _META).write_text(json.dumps(meta, indent=1, default=str))
    logger.info("pre-encoded %d images in %.1f s", count, meta["encode_seconds"])
