"""Where alternas' export classes meet diffusers' loaders.

How diffusers 0.42 finds the classes of a saved pipeline, and what alternas does about it:

* ``DiffusionPipeline.from_pretrained`` looks the pipeline class (``_class_name`` of ``model_index.json``)
  up in the ``diffusers`` namespace only; :func:`register_pipelines` adds ``AlternasDigitsPipeline`` and
  ``AlternasUnconditionalPipeline`` there.
* It resolves each component's ``[library, class]`` pair (``["alternas.export.modeling",
  "RoutedUNet2DConditionModel"]``, as ``save_pretrained`` writes it for a class defined outside diffusers)
  among the modules already imported: a folder never makes diffusers import code. Importing
  :mod:`alternas.export` imports those modules; ``import alternas`` arranges that import as soon as
  diffusers' pipelines are imported (see ``alternas/__init__.py``), so the folder loads with
  ``import alternas`` and no ``trust_remote_code``.
* A plain diffusers class (``UNet2DConditionModel.from_pretrained(export, subfolder="unet")``) would ignore
  the ``expert_*`` config fields with a warning and load a dense model that skips nothing. So a routed
  model's ``config.json`` carries a ``quantization_config`` whose ``quant_method`` is
  :func:`plain_loading_guard`'s message: diffusers validates that field before it builds any model, and
  fails with the message ("Unknown quantization type, got alternas_routed_experts (...)"). The routed
  classes drop it when they read the config (:func:`drop_plain_loading_guard`).
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = [
    "GUARD_KEY",
    "drop_plain_loading_guard",
    "is_plain_loading_guard",
    "plain_loading_guard",
    "register_pipelines",
]

#: the ``config.json`` entry diffusers checks before building a model
GUARD_KEY = "quantization_config"
#: how the guard's ``quant_method`` starts (never a quantization method of diffusers)
_GUARD_PREFIX = "alternas_routed_experts"


def plain_loading_guard(routed_class: str, base_class: str) -> dict[str, str]:
    """The ``quantization_config`` value a routed model's ``config.json`` carries: a plain ``base_class``
    fails to load it with this message, which says how to load it."""
    return {
        "quant_method": (
            f"{_GUARD_PREFIX} (this folder holds an alternas {routed_class}: temporal experts that skip "
            f"layers by timestep, which a plain {base_class} would ignore. Load the export folder with "
            "`import alternas` and `DiffusionPipeline.from_pretrained(<export folder>)`, or this folder with "
            f'`alternas.export.{routed_class}.from_pretrained(<export folder>, subfolder="<this folder>")`)'
        )
    }


def is_plain_loading_guard(value: Any) -> bool:
    """Whether ``value`` (a ``config.json`` entry) is a guard written by :func:`plain_loading_guard`."""
    return isinstance(value, dict) and str(value.get("quant_method", "")).startswith(_GUARD_PREFIX)


def drop_plain_loading_guard(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (changed in place) without the plain-loading guard, if it has one."""
    if is_plain_loading_guard(config.get(GUARD_KEY)):
        del config[GUARD_KEY]
    return config


def register_pipelines(*pipeline_classes: type) -> None:
    """Add ``pipeline_classes`` to the ``diffusers`` namespace, where ``DiffusionPipeline.from_pretrained``
    looks up a folder's ``_class_name``. A name diffusers already uses for another class is left alone."""
    import diffusers

    for pipeline_class in pipeline_classes:
        name = pipeline_class.__name__
        existing = getattr(diffusers, name, None)
        if existing is None:
            setattr(diffusers, name, pipeline_class)
        elif existing is not pipeline_class:
            warnings.warn(
                f"diffusers already has a `{name}`; `DiffusionPipeline.from_pretrained` of an alternas export "
                f"will not find alternas' `{pipeline_class.__module__}.{name}` (load it with "
                "`alternas.load_experts`)",
                stacklevel=2,
            )
