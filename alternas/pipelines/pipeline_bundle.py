"""Build a :class:`~alternas.bundle.ModelBundle` from a diffusers pipeline (Stable Diffusion, DiT) or model folder.

Supported layouts:

* ``StableDiffusionPipeline`` (SD 1.x/2.x): ``unet``, ``vae``, ``text_encoder``, ``tokenizer``,
  ``scheduler``; prompts are encoded by the text encoder.
* ``DiTPipeline``: ``transformer``, ``vae``, ``scheduler`` and ``id2label`` in ``model_index.json``;
  conditions are class ids or names, the null class (guidance) is id ``num_classes``.
* A lone model folder (``config.json`` + weights + ``scheduler_config.json``, e.g. a pixel-space
  ``UNet2DModel``): no VAE, conditioned by class labels or unconditional.

``model.config`` replaces the backbone's weights by random ones built from that config (the other
parts still come from ``model.backbone``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import torch
from diffusers import DiTTransformer2DModel, UNet2DConditionModel, UNet2DModel
from diffusers.models.embeddings import LabelEmbedding
from torch import nn

from ..backbones import adapter_for, build_backbone, load_backbone
from ..bundle import Conditioner, ModelBundle, ReferenceSet, UnconditionalConditioner
from ..config import ModelConfig
from ..quality.real_metrics import real_quality_metrics
from ..exceptions import BackboneError
from ..runtime import PRECISIONS
from .conditioners import ClassNameConditioner, TextConditioner, describe_condition
from .hub import load_component, read_model_index, resolve_pipeline_dir
from .latents import LatentCodec

__all__ = ["load_pipeline_bundle"]

_RANDOM_WEIGHTS_SEED = 0


def load_pipeline_bundle(config: ModelConfig) -> ModelBundle:
    """Load the backbone, noise schedule, conditioner and VAE that ``config`` names.

    Raises:
        BackboneError: the source is missing, has an unsupported layout, or its parts do not fit
            together (e.g. a text encoder narrower than the UNet's cross-attention).
    """
    directory = resolve_pipeline_dir(config.backbone, config.local_files_only)
    index = read_model_index(directory)
    if _has(index, "text_encoder_2"):
        raise BackboneError(
            f"`{directory}` is a two-text-encoder pipeline (SDXL-style, {index.get('_class_name')}); "
            "alternas supports StableDiffusionPipeline (SD 1.x/2.x) and DiTPipeline layouts"
        )
    backbone = _load_backbone(config, directory)
    cuda_dtype = PRECISIONS[config.teacher_precision]
    codec = LatentCodec(load_component(directory, "vae", index), cuda_dtype) if _has(index, "vae") else None
    _check_sample_channels(backbone, codec, directory)
    reference = ReferenceSet()
    conditioner = _conditioner(backbone, directory, index, reference, cuda_dtype)
    return ModelBundle(
        backbone=backbone,
        scheduler_config=_scheduler_config(directory),
        conditioner=conditioner,
        source=str(directory) if config.config is None else f"{directory} (random weights from model.config)",
        directory=directory,
        codec=codec,
        make_quality_metrics=functools.partial(
            real_quality_metrics,
            reference=reference,
            describe=functools.partial(describe_condition, conditioner),
        ),
        reference=reference,
    )


def _has(index: dict[str, Any] | None, name: str) -> bool:
    entry = (index or {}).get(name)
    return isinstance(entry, list) and len(entry) == 2 and entry[0] is not None


def _load_backbone(config: ModelConfig, directory: Path) -> nn.Module:
    if config.config is not None:
        class_name = config.config.get("_class_name")
        if not class_name:
            raise BackboneError("`model.config` must contain `_class_name` (e.g. UNet2DConditionModel)")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_RANDOM_WEIGHTS_SEED)
            backbone = build_backbone(class_name, config.config)
    else:
        backbone = load_backbone(str(directory), config.subfolder, local_files_only=True)
    adapter_for(backbone)  # an unsupported class fails here, with the supported list
    _disable_internal_label_dropout(backbone)
    return backbone


def _disable_internal_label_dropout(backbone: nn.Module) -> None:
    """Turn off the label dropout a DiT applies by itself in training mode.

    diffusers' ``LabelEmbedding`` (one per DiT block) replaces labels by the null class with its own
    unseeded draw while the model is in training mode, independently in every block. alternas drops
    conditions itself (``data.condition_dropout``, seeded, one draw per sample for the whole model),
    so the model's own dropout is switched off; the embedding table, with its null row, is unchanged.
    """
    for module in backbone.modules():
        if isinstance(module, LabelEmbedding):
            module.dropout_prob = 0.0


def _scheduler_config(directory: Path) -> dict[str, Any]:
    for path in (directory / "scheduler" / "scheduler_config.json", directory / "scheduler_config.json"):
        if path.is_file():
            try:
                return dict(json.loads(path.read_text()))
            except json.JSONDecodeError as error:
                raise BackboneError(f"`{path}` is not valid JSON: {error}") from error
    raise BackboneError(
        f"`{directory}` has no scheduler config (looked for scheduler/scheduler_config.json and "
        "scheduler_config.json); the training noise schedule and prediction type come from it"
    )


def _check_sample_channels(backbone: nn.Module, codec: LatentCodec | None, directory: Path) -> None:
    channels = adapter_for(backbone).sample_shape[0]
    expected = codec.latent_channels if codec is not None else 3
    if channels != expected:
        what = f"the VAE's {expected} latent channels" if codec is not None else "RGB pixels (no VAE found)"
        raise BackboneError(
            f"the backbone of `{directory}` takes {channels} input channels, but its data would be "
            f"{what}; give the whole pipeline folder (with its `vae`) or a matching backbone"
        )


def _conditioner(
    backbone: nn.Module,
    directory: Path,
    index: dict[str, Any] | None,
    reference: ReferenceSet,
    cuda_dtype: torch.dtype,
) -> Conditioner:
    config = backbone.config
    if isinstance(backbone, UNet2DConditionModel):
        if not (_has(index, "text_encoder") and _has(index, "tokenizer")):
            raise BackboneError(
                f"`{directory}` has a UNet2DConditionModel but no `text_encoder` and `tokenizer`; give "
                "the whole StableDiffusionPipeline folder"
            )
        conditioner = TextConditioner(
            load_component(directory, "tokenizer", index),
            load_component(directory, "text_encoder", index),
            reference,
            cuda_dtype,
        )
        if conditioner.hidden_size != config.cross_attention_dim:
            raise BackboneError(
                f"the text encoder of `{directory}` is {conditioner.hidden_size} wide but the UNet's "
                f"`cross_attention_dim` is {config.cross_attention_dim}"
            )
        return conditioner
    id2label = (index or {}).get("id2label")
    if isinstance(backbone, DiTTransformer2DModel):  # always class-conditional (adaLN-Zero)
        num_classes = config.num_embeds_ada_norm
        return ClassNameConditioner(num_classes, _null_label(backbone, num_classes), id2label)
    if isinstance(backbone, UNet2DModel) and config.num_class_embeds is not None:
        return ClassNameConditioner(config.num_class_embeds, None, id2label)
    return UnconditionalConditioner()


def _null_label(backbone: nn.Module, num_classes: int) -> int | None:
    """``num_classes`` when the label embedding has the extra "no class" row (DiT), else ``None``."""
    for module in backbone.modules():
        if isinstance(module, LabelEmbedding):
            return num_classes if module.embedding_table.num_embeddings > num_classes else None
    return None
