"""Load an export folder written by :func:`~alternas.export.export_experts` (no network, no search run)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from torch import nn

from .._readers import LOAD_ERRORS, read_diffusers_config, short
from ..exceptions import CheckpointError
from ..plan import ExpertPlan
from .modeling import routed_class_for
from .writer import EXPERT_CONFIG_FILE

__all__ = ["load_experts", "read_expert_config"]


def read_expert_config(path: str | Path) -> ExpertPlan:
    """The expert config (``experts.yaml``) of an export folder.

    Raises:
        CheckpointError: ``path`` is not an alternas export folder.
    """
    config_file = Path(path) / EXPERT_CONFIG_FILE
    if not config_file.is_file():
        raise CheckpointError(
            f"`{path}` is not an alternas export (no {EXPERT_CONFIG_FILE}); create one with "
            "`alternas export RUN_DIR --out DIR`"
        )
    return ExpertPlan.load(config_file)


def load_experts(
    path: str | Path, device: str | torch.device | None = None, torch_dtype: torch.dtype | None = None
) -> DiffusionPipeline | nn.Module:
    """Load an exported ALTER model.

    Args:
        path: the export folder.
        device: where to put it (default: stays on the CPU).
        torch_dtype: dtype of the weights (default: as stored, float32).

    Returns:
        The exported pipeline (``AlternasDigitsPipeline`` for the digits default,
        ``AlternasUnconditionalPipeline`` for an unconditional ``UNet2DModel``, or the base diffusers pipeline
        with its routed backbone) when the export has one, else the routed backbone model.

    Raises:
        CheckpointError: not an export folder, or its files are incomplete.
    """
    path = Path(path)
    plan = read_expert_config(path)
    index_file = path / "model_index.json"
    folders = sorted(p.name for p in path.iterdir() if p.is_dir())
    if index_file.is_file():
        read_diffusers_config(index_file)
        for config_file in sorted(path.glob("*/config.json")):
            read_diffusers_config(config_file)
        model_class, subfolder = DiffusionPipeline, {}  # the diffusers way (the package registered its classes)
    elif len(folders) == 1 and (path / folders[0] / "config.json").is_file():  # a bare routed backbone
        read_diffusers_config(path / folders[0] / "config.json")
        model_class, subfolder = routed_class_for(plan.backbone["class_name"]), {"subfolder": folders[0]}
    elif folders:
        raise CheckpointError(
            f"export `{path}` is damaged: it holds a pipeline ({', '.join(folders)}) but no `model_index.json`; "
            "export it again with `alternas export`"
        )
    else:
        raise CheckpointError(f"export `{path}` is damaged: it has neither model_index.json nor a model folder")
    try:
        model = model_class.from_pretrained(path, torch_dtype=torch_dtype, local_files_only=True, **subfolder)
    except LOAD_ERRORS as error:
        raise CheckpointError(
            f"cannot load the export `{path}` (damaged?): {type(error).__name__}: {short(error, 200)}"
        ) from error
    return model.to(device) if device is not None else model
