"""Load an export folder written by :func:`~alternas.export.export_experts` (no network, no search run)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from torch import nn

from .._readers import read_json
from ..exceptions import CheckpointError
from ..plan import ExpertPlan
from .modeling import routed_class_for
from .pipeline_digits import AlternasDigitsPipeline
from .writer import EXPERT_CONFIG_FILE

__all__ = ["load_experts", "read_expert_config"]

#: pipeline classes alternas defines, by their ``_class_name`` in ``model_index.json``
_PIPELINES: dict[str, type[DiffusionPipeline]] = {"AlternasDigitsPipeline": AlternasDigitsPipeline}


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
        The exported pipeline (``AlternasDigitsPipeline`` for the digits default, or the base diffusers
        pipeline with its routed backbone) when the export has one, else the routed backbone model.

    Raises:
        CheckpointError: not an export folder, or its files are incomplete.
    """
    path = Path(path)
    plan = read_expert_config(path)
    index_file = path / "model_index.json"
    try:
        if index_file.is_file():
            class_name = read_json(index_file).get("_class_name")
            pipeline_class = _PIPELINES.get(class_name, DiffusionPipeline)
            model = pipeline_class.from_pretrained(path, torch_dtype=torch_dtype, local_files_only=True)
        else:
            component = next((p.parent.name for p in sorted(path.glob("*/config.json"))), None)
            if component is None:
                raise CheckpointError(f"export `{path}` has neither model_index.json nor a model folder")
            routed_class = routed_class_for(plan.backbone["class_name"])
            model = routed_class.from_pretrained(
                path, subfolder=component, torch_dtype=torch_dtype, local_files_only=True
            )
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot load the export `{path}`: {error}") from error
    return model.to(device) if device is not None else model
