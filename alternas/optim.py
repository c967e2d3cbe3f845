"""One optimised parameter set: AdamW, its learning-rate schedule, a gradient scaler and clipping.

The trainer holds two of these, one for the backbone and one for the hypernetwork; both take a step
the same way and checkpoint the same three parts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch import nn

from .exceptions import TrainingDiverged

__all__ = ["Optimiser", "lr_factor"]


def lr_factor(
    warmup: int,
    total: int,
    decay: Literal["constant", "cosine", "linear"],
    floor: float,
    decay_steps: int | None = None,
) -> Callable[[int], float]:
    """Learning-rate multiplier of iteration ``step``: linear warm-up over ``warmup`` iterations, then
    constant, or a cosine or linear fall from 1 to ``floor`` at iteration ``total``. The fall spans the
    last ``decay_steps`` iterations (``None``: everything after the warm-up); before it the rate is 1."""

    start = warmup if decay_steps is None else max(warmup, total - decay_steps)  # first iteration of the fall

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if decay == "constant" or step < start or total <= start:
            return 1.0
        progress = min(1.0, (step - start) / (total - start))
        fall = 1 - progress if decay == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
        return floor + (1 - floor) * fall

    return factor


class Optimiser:
    """AdamW over ``parameters`` with a :func:`lr_factor` schedule, a gradient scaler and a norm clip.

    Args:
        parameters: what this optimiser trains.
        name: what the parameters are (``backbone``, ``hypernetwork``), used in error messages.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        schedule: the learning-rate multiplier per step (see :func:`lr_factor`).
        grad_clip: maximal gradient norm (L2 over all parameters).
        fp16: scale the loss for float16 autocast (CUDA only).
    """

    def __init__(
        self,
        parameters: Iterable[nn.Parameter],
        name: str,
        *,
        lr: float,
        weight_decay: float,
        schedule: Callable[[int], float],
        grad_clip: float,
        fp16: bool,
    ) -> None:
        self.parameters = list(parameters)
        self.name = name
        self.grad_clip = grad_clip
        self.optimizer = torch.optim.AdamW(self.parameters, lr=lr, weight_decay=weight_decay)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return self.schedule.get_last_lr()[0]

    def step(self, loss: torch.Tensor, iteration: int) -> float:
        """Back-propagate ``loss`` (a scalar) and update the parameters; returns the gradient norm.

        Raises:
            TrainingDiverged: the loss, or the unscaled gradient norm, is not finite at ``iteration``.
        """
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"the {self.name} loss became {loss.item()} at step {iteration}; lower `train.lr` / "
                "`train.hypernet_lr` or use `train.precision: fp32`"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        norm = nn.utils.clip_grad_norm_(self.parameters, self.grad_clip)
        if not torch.isfinite(norm) and not self.scaler.is_enabled():
            raise TrainingDiverged(
                f"the {self.name} gradient norm became {norm.item()} at step {iteration}; lower the learning rate"
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        return float(norm)

    def state_dict(self) -> dict[str, Any]:
        """The optimiser, schedule and scaler states (tensors and plain data)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
