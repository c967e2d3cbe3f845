"""The embedded default: a tiny SD-style teacher for scikit-learn's digits.

The teacher is a ``UNet2DConditionModel`` with cross-attention (so transformer units exist, as in
Stable Diffusion) whose conditioning token is a learned embedding of the class label. The default
config's weights ship with the package (``alternas/weights/digits-teacher.safetensors``), so every
machine starts from the same teacher. Any other config is pretrained with the plain DDPM epsilon loss
on first use and cached under ``<cache>/teachers/digits-<config hash>/`` as a diffusers-style folder
(``unet/``, ``label_encoder/``, ``scheduler/``), so every later run (and every Ray worker) loads it
from disk.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from .._atomic import atomic_dir
from .._cache import cache_root, config_hash, load_or_build
from .._shipped import shipped_state, write_shipped_state
from .._validation import validate_config
from ..bundle import Conditioner, ModelBundle
from ..data.digits_data import load_digits_tensors
from .digits_classifier import load_digits_classifier
from ..quality.image_metrics import ClassConsistency, FrechetDistance, QualityMetric

__all__ = [
    "DigitsLabelEncoder",
    "LabelTokenConditioner",
    "DigitsTeacherConfig",
    "digits_teacher_dir",
    "pretrain_digits_teacher",
    "digits_quality_metrics",
    "load_digits_bundle",
    "ship_digits_teacher",
]

logger = logging.getLogger("alternas")
_FORMAT_VERSION = 1  # bump when the pretraining procedure changes, so old caches are not reused
_SHIPPED_NAME = "digits-teacher"


class DigitsLabelEncoder(ModelMixin, ConfigMixin):
    """Class label -> one conditioning token (the digits model's "text encoder").

    Args:
        num_classes (`int`, defaults to 10): real classes; label ``num_classes`` is the null label.
        embedding_dim (`int`, defaults to 32): token width (the UNet's ``cross_attention_dim``).
    """

    @register_to_config
    def __init__(self, num_classes: int = 10, embedding_dim: int = 32) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_classes + 1, embedding_dim)

    @property
    def null_label(self) -> int:
        """The label id of the unconditional token."""
        return self.config.num_classes

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """Tokens of shape ``(B, 1, embedding_dim)`` for labels of shape ``(B,)``."""
        return self.embedding(labels).unsqueeze(1)


class LabelTokenConditioner(Conditioner):
    """Encodes digit labels into ``encoder_hidden_states`` with a frozen :class:`DigitsLabelEncoder`."""

    condition_length = 1

    def __init__(self, encoder: DigitsLabelEncoder) -> None:
        self.encoder = encoder.eval().requires_grad_(False)

    def _tokens(self, labels: torch.Tensor, device: torch.device | str) -> dict[str, torch.Tensor]:
        self.encoder.to(device)
        with torch.no_grad():
            return {"encoder_hidden_states": self.encoder(labels.to(device))}

    def encode(self, conditions: Sequence[Any], device: torch.device | str) -> dict[str, torch.Tensor]:
        return self._tokens(torch.as_tensor([int(c) for c in conditions], dtype=torch.long), device)

    def null(self, batch_size: int, device: torch.device | str) -> dict[str, torch.Tensor]:
        return self._tokens(torch.full((batch_size,), self.encoder.null_label, dtype=torch.long), device)

    def evaluation_conditions(self, count: int) -> list[Any]:
        return [i % self.encoder.config.num_classes for i in range(count)]


class DigitsTeacherConfig(BaseModel):
    """Architecture and pretraining of the built-in digits teacher (the cache key)."""

    model_config = ConfigDict(extra="forbid")

    resolution: int = Field(8, ge=8, description="image side in pixels (8 = native digits)")
    block_out_channels: list[int] = Field(default_factory=lambda: [16, 32])
    layers_per_block: int = Field(2, ge=1)
    attention_heads: int = Field(2, ge=1, description="attention heads per transformer (diffusers passes it as attention_head_dim)")
    embedding_dim: int = Field(32, ge=1, description="label-token width = cross_attention_dim")
    norm_num_groups: int = Field(8, ge=1)
    num_train_timesteps: int = Field(1000, ge=10)
    beta_schedule: str = Field("squaredcos_cap_v2", description="diffusers DDPM beta schedule")
    pretrain_steps: int = Field(3000, ge=1, description="pretraining iterations")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0, description="peak AdamW learning rate (cosine decay)")
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0, description="EMA of the weights that are saved")
    label_dropout: float = Field(0.1, ge=0.0, le=1.0, description="null-label rate, for guidance")
    seed: int = 0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> DigitsTeacherConfig:
        """Validate ``model.builtin`` options, as a :class:`ConfigError` naming the bad key."""
        return validate_config(cls, options, "builtin:digits options", prefix="model.builtin")

    def unet_config(self) -> dict[str, Any]:
        """The ``UNet2DConditionModel`` config: cross-attention down/up blocks and mid block."""
        levels = len(self.block_out_channels)
        return {
            "sample_size": self.resolution,
            "in_channels": 1,
            "out_channels": 1,
            "block_out_channels": list(self.block_out_channels),
            "down_block_types": ["CrossAttnDownBlock2D"] * (levels - 1) + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (levels - 1),
            "layers_per_block": self.layers_per_block,
            "cross_attention_dim": self.embedding_dim,
            "attention_head_dim": self.attention_heads,
            "norm_num_groups": self.norm_num_groups,
        }

    def cache_key(self) -> str:
        """Short hash of everything that determines the teacher's weights."""
        return config_hash({"format": _FORMAT_VERSION, **self.model_dump()})


def digits_teacher_dir(config: DigitsTeacherConfig) -> Path:
    """Where the teacher for ``config`` is (or will be) cached."""
    return cache_root() / "teachers" / f"digits-{config.cache_key()}"


def pretrain_digits_teacher(
    config: DigitsTeacherConfig, out_dir: Path, device: torch.device | str = "cpu"
) -> dict[str, Any]:
    """Train the digits teacher from scratch and save it as a diffusers-style folder.

    Every random draw (batch indices, labels dropped, noise, timesteps) comes from one CPU generator
    seeded by ``config.seed``, so the data stream is the same on every ``device``.

    Returns:
        A summary: final loss (EMA of the training loss), wall time in seconds, steps.
    """
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        unet = UNet2DConditionModel.from_config(config.unet_config())
        encoder = DigitsLabelEncoder(embedding_dim=config.embedding_dim)
    scheduler = DDPMScheduler(
        num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule
    )
    images, labels = load_digits_tensors(config.resolution)
    modules = nn.ModuleList([unet, encoder]).to(device).train()
    ema = copy.deepcopy(modules).requires_grad_(False)
    optimizer = torch.optim.AdamW(modules.parameters(), lr=config.lr, weight_decay=1e-2)
    warmup = max(1, config.pretrain_steps // 20)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, config.pretrain_steps - warmup)))

    lr_schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    running = None
    for step in range(config.pretrain_steps):
        index = torch.randint(0, len(images), (config.batch_size,), generator=generator)
        x0, y = images[index], labels[index].clone()
        y[torch.rand(len(y), generator=generator) < config.label_dropout] = encoder.null_label
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, config.num_train_timesteps, (len(x0),), generator=generator)
        x0, y, noise, t = (tensor.to(device) for tensor in (x0, y, noise, t))
        prediction = unet(scheduler.add_noise(x0, noise, t), t, encoder(y)).sample
        loss = F.mse_loss(prediction, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(modules.parameters(), 1.0)
        optimizer.step()
        lr_schedule.step()
        decay = min(config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for average, current in zip(ema.parameters(), modules.parameters()):
                average.lerp_(current, 1 - decay)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 500 == 0 or step == config.pretrain_steps - 1:
            logger.info("digits teacher: step %d/%d loss %.4f", step + 1, config.pretrain_steps, running)

    summary = {
        "config": config.model_dump(),
        "final_loss": running,
        "pretrain_seconds": time.perf_counter() - started,
        "steps": config.pretrain_steps,
    }
    ema.cpu()
    with atomic_dir(out_dir) as staging:
        ema[0].save_pretrained(staging / "unet")
        ema[1].save_pretrained(staging / "label_encoder")
        scheduler.save_pretrained(staging / "scheduler")
        (staging / "teacher.json").write_text(json.dumps(summary, indent=2))
    return summary


def digits_quality_metrics(resolution: int, names: Sequence[str]) -> list[QualityMetric]:
    """FID in the digits classifier's feature space and class-consistency accuracy."""
    classifier = load_digits_classifier(resolution)
    metrics: list[QualityMetric] = []
    if "fid" in names:
        real_images = (load_digits_tensors(resolution)[0] + 1) / 2
        metrics.append(FrechetDistance(classifier, real_images))
    if "accuracy" in names:
        metrics.append(ClassConsistency(classifier))
    return metrics


def _cached_teacher(
    config: DigitsTeacherConfig, device: torch.device | str = "cpu"
) -> tuple[UNet2DConditionModel, DigitsLabelEncoder]:
    """The teacher of ``config`` from the cache, pretrained on ``device`` first if it is missing or damaged."""

    def pretrain(directory: Path) -> None:
        logger.info("pretraining the built-in digits teacher (cached in %s)", directory)
        pretrain_digits_teacher(config, directory, device)

    return load_or_build(digits_teacher_dir(config), _load_cached_teacher, pretrain, "digits teacher")


def _load_cached_teacher(directory: Path) -> tuple[UNet2DConditionModel, DigitsLabelEncoder]:
    """The teacher cached in ``directory`` (``teacher.json`` is written last: without it, there is none)."""
    if not (directory / "teacher.json").is_file():
        raise FileNotFoundError(directory / "teacher.json")
    return (
        UNet2DConditionModel.from_pretrained(directory / "unet"),
        DigitsLabelEncoder.from_pretrained(directory / "label_encoder"),
    )


def _shipped_teacher(config: DigitsTeacherConfig) -> tuple[UNet2DConditionModel, DigitsLabelEncoder] | None:
    """The teacher of ``config`` from the weights shipped with alternas, if they were made by ``config``."""
    shipped = shipped_state(_SHIPPED_NAME, config.cache_key())
    if shipped is None:
        return None
    state, _ = shipped
    unet = UNet2DConditionModel.from_config(config.unet_config())
    encoder = DigitsLabelEncoder(embedding_dim=config.embedding_dim)
    for prefix, module in (("unet.", unet), ("label_encoder.", encoder)):
        module.load_state_dict({key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)})
    return unet.eval(), encoder.eval()


def ship_digits_teacher(config: DigitsTeacherConfig, device: torch.device | str = "cpu") -> Path:
    """Write the teacher of ``config`` (pretrained on ``device`` unless cached) as the shipped weights."""
    unet, encoder = _cached_teacher(config, device)
    state = {f"unet.{key}": value for key, value in unet.state_dict().items()}
    state.update({f"label_encoder.{key}": value for key, value in encoder.state_dict().items()})
    summary = json.loads((digits_teacher_dir(config) / "teacher.json").read_text())
    return write_shipped_state(_SHIPPED_NAME, config.cache_key(), state, summary)


def load_digits_bundle(config: DigitsTeacherConfig | None = None) -> ModelBundle:
    """The digits teacher bundle: the shipped weights for the default config, else pretrained and cached."""
    config = config or DigitsTeacherConfig()
    unet, encoder = _shipped_teacher(config) or _cached_teacher(config)
    scheduler = DDPMScheduler(num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule)
    return ModelBundle(
        backbone=unet,
        scheduler_config=dict(scheduler.config),
        conditioner=LabelTokenConditioner(encoder),
        source=f"builtin:digits (digits-{config.cache_key()})",
        make_quality_metrics=lambda names, eval_config: digits_quality_metrics(config.resolution, names),
        label_encoder=encoder,
    )
