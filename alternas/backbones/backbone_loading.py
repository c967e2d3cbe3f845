"""Load a diffusers backbone from a Hugging Face id, a local directory or a config dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import DiTTransformer2DModel, UNet2DConditionModel, UNet2DModel
from torch import nn

from ..exceptions import BackboneError
from .base import BackboneAdapter
from .dit import DiTAdapter
from .unet import UNetAdapter, UNetConditionAdapter

__all__ = ["BACKBONE_CLASSES", "adapter_for", "backbone_class_name", "build_backbone", "load_backbone"]

#: diffusers model classes alternas can prune, by their ``_class_name`` in ``config.json``
BACKBONE_CLASSES: dict[str, type[nn.Module]] = {
    "UNet2DConditionModel": UNet2DConditionModel,
    "UNet2DModel": UNet2DModel,
    "DiTTransformer2DModel": DiTTransformer2DModel,
}

#: ``(_class_name, norm_type)`` of configs saved by older diffusers -> the class that loads them
#: (the Hub's ``facebook/DiT-XL-2-256`` still names its transformer ``Transformer2DModel``)
_LEGACY_CLASS_NAMES: dict[tuple[str, str], str] = {("Transformer2DModel", "ada_norm_zero"): "DiTTransformer2DModel"}

_ADAPTERS: tuple[type[BackboneAdapter], ...] = (UNetConditionAdapter, UNetAdapter, DiTAdapter)


def adapter_for(model: nn.Module) -> BackboneAdapter:
    """The adapter that drives ``model``.

    Raises:
        BackboneError: the model's class is not one alternas supports.
    """
    for adapter_class in _ADAPTERS:
        if adapter_class.supports(model):
            return adapter_class(model)
    raise BackboneError(
        f"backbone class `{type(model).__name__}` is not supported; "
        f"supported classes are {sorted(BACKBONE_CLASSES)}"
    )


def backbone_class_name(config: dict[str, Any]) -> str:
    """The alternas backbone class a diffusers ``config.json`` describes (``""`` when it names none).

    Older configs that name a generic class are mapped to the class diffusers loads them as.
    """
    class_name = str(config.get("_class_name", ""))
    return _LEGACY_CLASS_NAMES.get((class_name, str(config.get("norm_type", ""))), class_name)


def build_backbone(class_name: str, config: dict[str, Any]) -> nn.Module:
    """Build a backbone with random weights from a diffusers config dict.

    Args:
        class_name: one of :data:`BACKBONE_CLASSES`.
        config: keyword arguments of the class's ``__init__`` (keys starting with ``_`` are ignored).
    """
    model_class = _model_class(class_name)
    clean = {key: value for key, value in config.items() if not key.startswith("_")}
    try:
        return model_class.from_config(clean)
    except (TypeError, ValueError) as error:
        raise BackboneError(f"cannot build `{class_name}` from the given config: {error}") from error


def load_backbone(
    source: str,
    subfolder: str | None = None,
    torch_dtype: torch.dtype | None = None,
    local_files_only: bool = True,
) -> nn.Module:
    """Load a pretrained backbone with ``from_pretrained``.

    Args:
        source: a local directory (a model folder or a pipeline folder) or a Hugging Face model id.
        subfolder: the pipeline component holding the backbone (``"unet"`` or ``"transformer"``);
            guessed from the folder layout when ``None``.
        torch_dtype: dtype to load the weights in (default: as stored).
        local_files_only: never touch the network (the default; set ``False`` to allow downloads).
    """
    class_name, subfolder = _resolve_class(source, subfolder, local_files_only)
    model_class = _model_class(class_name)
    try:
        return model_class.from_pretrained(
            source, subfolder=subfolder, torch_dtype=torch_dtype, local_files_only=local_files_only
        )
    except OSError as error:
        raise BackboneError(
            f"cannot load backbone `{source}` (subfolder={subfolder!r}): {error}. "
            "Give a local diffusers directory, or a Hugging Face id already in the local cache "
            "(downloads are off by default)."
        ) from error


def _model_class(class_name: str) -> type[nn.Module]:
    if class_name not in BACKBONE_CLASSES:
        raise BackboneError(
            f"backbone class `{class_name}` is not supported; supported: {sorted(BACKBONE_CLASSES)}"
        )
    return BACKBONE_CLASSES[class_name]


def _resolve_class(source: str, subfolder: str | None, local_files_only: bool) -> tuple[str, str | None]:
    """Find the backbone's class name and subfolder from its ``config.json``."""
    candidates = [subfolder] if subfolder is not None else [None, "unet", "transformer"]
    path = Path(source)
    if path.exists():
        for candidate in candidates:
            config_path = path / candidate / "config.json" if candidate else path / "config.json"
            if config_path.is_file():
                return _class_name_in(config_path), candidate
        raise BackboneError(
            f"`{source}` has no diffusers config.json (looked in: "
            f"{', '.join(repr(c or '.') for c in candidates)}); pass the model or pipeline folder"
        )
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    for candidate in candidates:
        try:
            config_path = hf_hub_download(
                source, "config.json", subfolder=candidate, local_files_only=local_files_only
            )
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
            continue
        return _class_name_in(Path(config_path)), candidate
    raise BackboneError(
        f"backbone `{source}` is neither a local directory nor a Hugging Face id in the local cache; "
        "download it first (huggingface-cli download ...) or pass a local path"
    )


def _class_name_in(config_path: Path) -> str:
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise BackboneError(f"`{config_path}` is not a diffusers model config: {error}") from error
    class_name = backbone_class_name(config) if isinstance(config, dict) else ""
    if not class_name:
        raise BackboneError(f"`{config_path}` is not a diffusers model config (it has no `_class_name`)")
    return class_name
