"""Backbones alternas can prune, and how they are loaded."""

from .base import BackboneAdapter
from .dit import DiTAdapter
from .backbone_loading import BACKBONE_CLASSES, adapter_for, backbone_class_name, build_backbone, load_backbone
from .unet import UNetAdapter, UNetConditionAdapter

__all__ = [
    "BACKBONE_CLASSES",
    "BackboneAdapter",
    "DiTAdapter",
    "UNetAdapter",
    "UNetConditionAdapter",
    "adapter_for",
    "backbone_class_name",
    "build_backbone",
    "load_backbone",
]
