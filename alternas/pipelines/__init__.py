"""Real latent-diffusion pipelines (Stable Diffusion 1.x/2.x, DiT) and their training data.

``load_pipeline_bundle`` turns a local pipeline folder or a cached Hugging Face id into a
:class:`~alternas.bundle.ModelBundle`; ``load_pipeline_training_set`` reads an image folder, a Hugging
Face dataset or tar shards and pre-encodes it (VAE latents, text embeddings) into a memory-mapped cache.
:mod:`alternas.sources` chooses between these and the built-in zoo.
"""

from ..bundle import ReferenceSet
from .pipeline_bundle import load_pipeline_bundle
from .conditioners import ClassNameConditioner, TextConditioner
from .datasets import load_pipeline_training_set
from .latents import LatentCodec

__all__ = [
    "ClassNameConditioner",
    "LatentCodec",
    "ReferenceSet",
    "TextConditioner",
    "load_pipeline_bundle",
    "load_pipeline_training_set",
]
