"""Export a searched ALTER model as a diffusers-loadable model that really skips layers, and run it.

* :func:`export_experts` writes an export folder from a search run directory (the report's winner
  by default) or from a single ``alternas train`` run;
* :func:`load_experts` loads it back (a pipeline, or the routed backbone alone);
* :func:`generate_images` samples from an exported pipeline;
* :class:`AlternasDigitsPipeline` (the built-in digits model) and :class:`AlternasUnconditionalPipeline`
  (an unconditional ``UNet2DModel``, with any scheduler) are the pipelines alternas writes itself;
* the routed model classes (:class:`RoutedUNet2DConditionModel`, :class:`RoutedUNet2DModel`,
  :class:`RoutedDiTTransformer2DModel`) are diffusers models, drop-in backbones for
  ``StableDiffusionPipeline`` / ``DiTPipeline``.

An export folder also loads the diffusers way, ``DiffusionPipeline.from_pretrained(folder)``, once
``alternas`` is imported: importing this package makes its classes findable by diffusers (see
:mod:`alternas.export._diffusers`), and ``import alternas`` imports it when diffusers' pipelines are.
"""

from ._diffusers import register_pipelines
from .export_generation import check_images_target, condition_kind, default_conditions, generate_images, save_images
from .handmade import plan_from_masks
from .export_loading import load_experts, read_expert_config
from .modeling import (
    ROUTED_CLASSES,
    RoutedDiTTransformer2DModel,
    RoutedExpertsMixin,
    RoutedUNet2DConditionModel,
    RoutedUNet2DModel,
    expert_config_from_plan,
    routed_class_for,
    routed_from_plan,
)
from .pipeline_digits import AlternasDigitsPipeline
from .pipeline_unconditional import AlternasUnconditionalPipeline
from .writer import EXPERT_CONFIG_FILE, ExportResult, export_experts, export_plan

register_pipelines(AlternasDigitsPipeline, AlternasUnconditionalPipeline)

__all__ = [
    "EXPERT_CONFIG_FILE",
    "ROUTED_CLASSES",
    "AlternasDigitsPipeline",
    "AlternasUnconditionalPipeline",
    "ExportResult",
    "RoutedDiTTransformer2DModel",
    "RoutedExpertsMixin",
    "RoutedUNet2DConditionModel",
    "RoutedUNet2DModel",
    "condition_kind",
    "default_conditions",
    "export_experts",
    "export_plan",
    "expert_config_from_plan",
    "generate_images",
    "load_experts",
    "plan_from_masks",
    "read_expert_config",
    "routed_class_for",
    "routed_from_plan",
    "save_images",
    "check_images_target",
]
