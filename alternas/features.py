"""Capture block outputs with forward hooks, for feature distillation."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import torch
from torch import nn

__all__ = ["FeatureRecorder"]


class FeatureRecorder:
    """Context manager recording the output tensor of named modules during one forward pass.

    Args:
        model: the backbone.
        names: module paths to watch (e.g. ``["down_blocks.0", "mid_block", "up_blocks.0"]``).

    Attributes:
        outputs: recorded tensors, one per call, in call order (a tuple output's first element).
    """

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        modules = dict(model.named_modules())
        self.modules = [modules[name] for name in names]
        self.outputs: list[torch.Tensor] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _record(self, module: nn.Module, args: tuple, output: object) -> None:
        self.outputs.append(output[0] if isinstance(output, tuple) else output)

    def __enter__(self) -> FeatureRecorder:
        self.outputs = []
        self._handles = [module.register_forward_hook(self._record) for module in self.modules]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
