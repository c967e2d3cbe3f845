"""The frozen teacher, and the backbone loss ``L_U`` of the student measured against it."""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from .backbones import adapter_for
from .batches import Batch
from .config import RunConfig
from .features import FeatureRecorder
from .losses import BackboneLoss
from .runtime import PRECISIONS

__all__ = ["Distillation"]


class Distillation:
    """A frozen copy of the student as its teacher, with output and block-feature distillation.

    The teacher runs once per batch (:meth:`teach`); every student forward on that batch is scored
    against its recorded outputs (:meth:`student_loss`). On CUDA both run under autocast with
    ``train.precision`` and the teacher is stored in ``model.teacher_precision``.

    Args:
        student: the backbone being trained, already on ``device`` (the teacher copies it as it is now).
        config: the run configuration (``loss``, ``train.precision``, ``model``).
        device: where both models live.
    """

    def __init__(self, student: nn.Module, config: RunConfig, device: torch.device) -> None:
        self.student = student
        self.device = device
        self.autocast_dtype = PRECISIONS[config.train.precision] if device.type == "cuda" else None
        self.teacher = copy.deepcopy(student).eval().requires_grad_(False)
        if device.type == "cuda":
            self.teacher.to(PRECISIONS[config.model.teacher_precision])
            if config.model.channels_last:
                self.teacher.to(memory_format=torch.channels_last)
        self.adapter = adapter_for(student)
        self.teacher_adapter = adapter_for(self.teacher)
        self.feature_names = self.adapter.feature_module_names()
        self.loss = BackboneLoss(config.loss)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision on CUDA (``train.precision``); nothing on CPU."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def teach(self, batch: Batch) -> None:
        """Fill ``batch.teacher_prediction`` and ``batch.teacher_features`` (no gradient)."""
        dtype = next(self.teacher.parameters()).dtype
        condition = {k: v.to(dtype) if v.is_floating_point() else v for k, v in batch.condition.items()}
        with torch.no_grad(), self.autocast(), FeatureRecorder(self.teacher, self.feature_names) as recorder:
            batch.teacher_prediction = self.teacher_adapter.predict(batch.noisy.to(dtype), batch.timesteps, condition)
        batch.teacher_features = recorder.outputs

    def student_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """``L_U`` of one student forward on ``batch`` (under whatever gating is active) and its parts."""
        with self.autocast(), FeatureRecorder(self.student, self.feature_names) as recorder:
            prediction = self.adapter.predict(batch.noisy, batch.timesteps, batch.condition)
        return self.loss(
            prediction, batch.target, batch.teacher_prediction, recorder.outputs, batch.teacher_features,
            batch.snr_weights,
        )
