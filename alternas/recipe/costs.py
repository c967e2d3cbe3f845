"""A recipe's MACs without weights: build the backbone's architecture on the meta device and profile it.

The architecture comes from, in order: the built-in backbone's config, ``model.config``, the
``config.json`` of weights already on disk (a local folder or the Hugging Face cache), or the file
``model.architecture`` names. Nothing is downloaded and no weight is loaded, so this takes about a
second even for Stable Diffusion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import DiTTransformer2DModel, UNet2DConditionModel
from torch import nn

from ..backbones import adapter_for, backbone_class_name, build_backbone
from ..config import ModelConfig
from ..exceptions import BackboneError, ConfigError
from ..macs import CostProfile, profile_costs
from ..units import UnitSpec
from .recipe_model import Recipe

__all__ = ["Architecture", "recipe_architecture", "recipe_costs"]

#: text tokens of the CLIP tokenizers of Stable Diffusion 1.x/2.x (cross-attention sequence length)
_CLIP_TOKENS = 77
#: pixels per latent pixel of the Stable Diffusion / DiT VAE, used when no ``vae/config.json`` is on disk
_LATENT_FACTOR = 8
_BACKBONE_SUBFOLDERS = ("unet", "transformer")


@dataclass
class Architecture:
    """A backbone's architecture on the meta device, with the input it is profiled at.

    Attributes:
        model: the backbone, parameters on the ``meta`` device.
        source: where the architecture came from (for messages).
        condition_length: cross-attention tokens per sample (1 for label-conditioned backbones).
        sample_shape: ``(channels, height, width)`` of one backbone input at the recipe's resolution.
    """

    model: nn.Module
    source: str
    condition_length: int
    sample_shape: tuple[int, int, int]


def recipe_architecture(recipe: Recipe) -> Architecture:
    """Build the recipe's backbone architecture on the meta device.

    Raises:
        BackboneError: the architecture cannot be known offline (no weights on disk and no
            ``model.architecture``), or its class is not supported.
    """
    model_config = recipe.model
    builtin = model_config.builtin_name is not None
    if builtin:
        class_name, config, source = _builtin_config(model_config)
    elif model_config.config is not None:
        class_name, config, source = backbone_class_name(model_config.config), model_config.config, "model.config"
    else:
        class_name, config, source = _stored_config(model_config.backbone, model_config.subfolder,
                                                    model_config.architecture)
    with torch.device("meta"):
        model = build_backbone(class_name, config)
    text_conditioned = isinstance(model, UNet2DConditionModel) and not builtin
    native = adapter_for(model).sample_shape
    shape = tuple(native)
    if recipe.data.resolution is not None:
        latent = not builtin and isinstance(model, (UNet2DConditionModel, DiTTransformer2DModel))
        side = recipe.data.resolution // (_latent_factor(model_config.backbone) if latent else 1)
        shape = (native[0], side, side)
    return Architecture(model, source, _CLIP_TOKENS if text_conditioned else 1, shape)


def recipe_costs(recipe: Recipe, architecture: Architecture, units: list[UnitSpec]) -> CostProfile:
    """Measured MACs of the candidate ``units`` of the recipe's backbone, under the space's convention."""
    return profile_costs(
        adapter_for(architecture.model),
        units,
        condition_length=architecture.condition_length,
        convention=recipe.space.budget.convention,
        sample_shape=architecture.sample_shape,
    )


def _builtin_config(model_config: ModelConfig) -> tuple[str, dict[str, Any], str]:
    from ..zoo import BUILTINS

    if model_config.builtin_name != "digits":
        available = ", ".join(f"builtin:{n}" for n in BUILTINS)
        raise ConfigError(
            f"`model.backbone`: unknown builtin backbone `{model_config.backbone}`; available: {available}"
        )
    from ..zoo.digits import DigitsTeacherConfig

    options = DigitsTeacherConfig.from_options(model_config.builtin)
    return "UNet2DConditionModel", options.unet_config(), model_config.backbone


def _stored_config(backbone: str, subfolder: str | None, architecture: str | None) -> tuple[str, dict[str, Any], str]:
    """The backbone's config from weights on disk, else from ``model.architecture``."""
    path = _config_on_disk(backbone, subfolder)
    if path is None and architecture is not None:
        path = Path(architecture)
    if path is None:
        raise BackboneError(
            f"cannot tell the architecture of `model.backbone` = `{backbone}` offline: it is neither a "
            "local folder nor in the Hugging Face cache. Set `model.architecture` to its diffusers "
            "config.json (see recipes/configs/), or download the model"
        )
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise BackboneError(f"`{path}` is not a readable diffusers config.json: {error}") from error
    if not isinstance(config, dict) or "_class_name" not in config:
        raise BackboneError(f"`{path}` is not a diffusers model config (it has no `_class_name`)")
    return backbone_class_name(config), config, str(path)


def _config_on_disk(backbone: str, subfolder: str | None) -> Path | None:
    """The backbone's ``config.json`` in a local folder or the Hugging Face cache, if there is one."""
    candidates = [subfolder] if subfolder is not None else [None, *_BACKBONE_SUBFOLDERS]
    for candidate in candidates:
        relative = f"{candidate}/config.json" if candidate else "config.json"
        local = Path(backbone).expanduser() / relative
        if local.is_file():
            return local
        cached = _hub_cached(backbone, relative)
        if cached is not None:
            return cached
    return None


def _latent_factor(backbone: str) -> int:
    """The pipeline's VAE downsampling (``2 ** (levels - 1)``) from its ``vae/config.json`` on disk."""
    path = Path(backbone).expanduser() / "vae" / "config.json"
    path = path if path.is_file() else _hub_cached(backbone, "vae/config.json")
    if path is None:
        return _LATENT_FACTOR
    try:
        levels = len(json.loads(path.read_text())["block_out_channels"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise BackboneError(f"`{path}` is not a readable VAE config: {error}") from error
    return 2 ** (levels - 1)


def _hub_cached(repo_id: str, filename: str) -> Path | None:
    """``filename`` of the Hugging Face repo ``repo_id`` if it is in the local cache (never downloads)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename)
    except ValueError:  # not a repo id at all (e.g. a local path that does not exist)
        return None
    return Path(found) if isinstance(found, str) else None
