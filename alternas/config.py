"""Validated configuration of one ALTER run, grouped by concern.

A recipe's base sections validate into these models; a search trial is one :class:`RunConfig` with
the sampled values filled in. Every field has a default and, where it has one, its unit in its name
or docstring. Unknown keys are rejected.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .metrics import QualityMetricName
from .samplers import check_sampler_name, check_sampler_names, distinct_samplers, sampler_names, sampler_schema

__all__ = [
    "ModelConfig",
    "DataConfig",
    "UnitsConfig",
    "ExpertsConfig",
    "BudgetConfig",
    "HypernetConfig",
    "LossConfig",
    "TrainConfig",
    "EvalConfig",
    "RunConfig",
    "BaselineConfig",
    "ConfirmConfig",
    "ReportConfig",
]

Precision = Literal["fp32", "bf16", "fp16"]


#: prefix of the built-in backbones and data sets (``builtin:digits``)
BUILTIN_PREFIX = "builtin:"
#: prefix of a Hugging Face dataset source (``hf:<path or id>``)
HF_PREFIX = "hf:"
#: what a ``data.source`` names: a built-in set, a Hugging Face dataset, a glob of .tar shards, or a
#: path (an image folder, one .tar file or a folder of shards)
DataSourceKind = Literal["builtin", "hf", "glob", "path"]


def _builtin_name(value: str) -> str | None:
    return value.removeprefix(BUILTIN_PREFIX) if value.startswith(BUILTIN_PREFIX) else None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    """The backbone to prune (also the frozen teacher's starting weights)."""

    backbone: str = Field(
        "builtin:digits",
        description="`builtin:digits`, a local diffusers model/pipeline folder, or a Hugging Face id",
    )
    builtin: dict[str, Any] = Field(
        default_factory=dict, description="options of a builtin backbone (see `alternas.zoo`)"
    )
    subfolder: str | None = Field(None, description="pipeline component holding the backbone (unet/transformer)")
    config: dict[str, Any] | None = Field(
        None,
        description="build the backbone with random weights from this diffusers config "
        "(must contain `_class_name`) instead of loading weights",
    )
    architecture: str | None = Field(
        None,
        description="path to the backbone's diffusers config.json: lets `alternas validate` build the "
        "architecture on the meta device (MACs, units) when the weights are not on disk",
    )
    local_files_only: bool = Field(True, description="never download; set false to allow Hub downloads")
    teacher_precision: Precision = Field("fp32", description="dtype of the frozen teacher on GPU")
    gradient_checkpointing: bool = Field(False, description="recompute activations in the backward pass")
    channels_last: bool = Field(False, description="use channels-last memory format for UNet convolutions")
    compile: bool = Field(
        False, description="torch.compile each prunable unit of the student and teacher (CUDA only; long runs)"
    )

    @property
    def builtin_name(self) -> str | None:
        """The built-in backbone's name (``digits`` for ``builtin:digits``); ``None`` for a pipeline
        folder or a Hugging Face id."""
        return _builtin_name(self.backbone)


class DataConfig(_Section):
    """Training data."""

    source: str = Field(
        "builtin:digits",
        description="`builtin:digits`, an image folder (captions in metadata.jsonl or .txt files), "
        "webdataset .tar shards (a file, a glob or a folder), or a Hugging Face dataset (`hf:<path or id>`)",
    )
    resolution: int | None = Field(None, ge=4, description="image side in pixels; None = backbone native")
    image_column: str = Field("image", description="image column of a Hugging Face dataset")
    caption_column: str | None = Field(
        None, description="caption column/field (text-conditioned backbones); None = `text`"
    )
    label_column: str | None = Field(
        None, description="class-label column/field (class-conditioned backbones); None = `label`"
    )
    max_items: int | None = Field(None, ge=1, description="use at most this many items")
    condition_dropout: float = Field(
        0.1, ge=0.0, le=1.0, description="probability of replacing a condition by the null one (CFG)"
    )
    cache_dir: str | None = Field(None, description="where pre-encoded latents go (default: alternas cache)")
    cache_dtype: Literal["fp16", "fp32"] = Field(
        "fp16", description="storage of pre-encoded latents and text embeddings (training reads float32)"
    )
    encode_batch_size: int = Field(32, ge=1, description="images per VAE/text-encoder batch when pre-encoding")
    reference_images: int = Field(
        1000, ge=2, description="real images (the data's first ones) kept as the FID reference of real models"
    )

    @property
    def source_kind(self) -> DataSourceKind:
        """What ``source`` names (see :data:`DataSourceKind`)."""
        if self.source.startswith(BUILTIN_PREFIX):
            return "builtin"
        if self.source.startswith(HF_PREFIX):
            return "hf"
        return "glob" if any(char in self.source for char in "*?[") else "path"

    @property
    def source_name(self) -> str:
        """``source`` without its ``builtin:`` / ``hf:`` prefix."""
        return _builtin_name(self.source) or self.source.removeprefix(HF_PREFIX)


class UnitsConfig(_Section):
    """Which prunable units the experts may skip."""

    include: list[str] = Field(default_factory=lambda: ["*"], description="unit-name globs to include")
    exclude: list[str] = Field(default_factory=list, description="unit-name globs to exclude")
    kinds: list[str] | None = Field(None, description="allowed unit kinds; None = all")


class ExpertsConfig(_Section):
    """Temporal experts and how timesteps are routed to them."""

    count: int = Field(4, ge=1, le=64, description="number of experts N_e")
    routing: Literal["learned", "manual", "static"] = Field(
        "learned",
        description="learned: ALTER router; manual: fixed contiguous intervals; static: one expert",
    )
    boundaries: list[int] | None = Field(
        None,
        description="manual routing: count-1 increasing timestep boundaries; expert e serves "
        "[b_(e-1), b_e); None = equal splits of the training schedule",
    )

    @model_validator(mode="after")
    def _check_routing(self) -> ExpertsConfig:
        if self.routing == "static" and self.count != 1:
            raise ValueError(f"`routing: static` uses exactly one expert, got `count: {self.count}`")
        if self.boundaries is not None:
            if self.routing != "manual":
                raise ValueError("`boundaries` only applies to `routing: manual`")
            if len(self.boundaries) != self.count - 1:
                raise ValueError(
                    f"`boundaries` needs count-1 = {self.count - 1} values, got {len(self.boundaries)}"
                )
            if any(b <= a for a, b in zip(self.boundaries, self.boundaries[1:])) or any(
                b <= 0 for b in self.boundaries
            ):
                raise ValueError(f"`boundaries` must be positive and increasing, got {self.boundaries}")
        return self


class BudgetConfig(_Section):
    """The compute budget the hypernetwork is trained towards."""

    macs_share: float = Field(
        0.5, gt=0.0, le=1.0, description="target MACs per sampler step as a share of the dense backbone"
    )
    convention: Literal["macs", "conv_linear"] = Field(
        "macs", description="macs: conv+linear+attention matmuls; conv_linear: BK-SDM / paper Table 2"
    )
    warmup_share: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="share of `train.hypernet_steps` over which the hypernetwork's MACs target eases "
        "from 1.0 (dense) to `macs_share` along a cubic; 0 = the final target from the first step (the "
        "default: on the digits a 0.5 warm-up kept the hard share near its target but cost FID in short runs)",
    )
    tolerance: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="how far the hard expert table may stray from its budget: while the hypernetwork "
        "trains, a table more than this below the scheduled target gets the dropped units with the highest "
        "keep logits back, so the backbone never trains a table that fell through the budget; after its last "
        "iteration the table is settled to within this distance of `macs_share` (kept units with the lowest "
        "keep logits dropped, or dropped ones with the highest kept again), so every method and trial ends "
        "on the budget it was given; 1 = keep the thresholded table as it is",
    )


class HypernetConfig(_Section):
    """Hypernetwork shape and Gumbel relaxation (ALTER reference values)."""

    code_dim: int = Field(64, ge=2, description="width d of the frozen orthogonal expert codes")
    hidden_dim: int = Field(256, ge=2, description="hidden width of the expert generator MLP")
    router_hidden_dim: int = Field(64, ge=2, description="hidden width of the temporal router MLP")
    temperature: float = Field(0.4, gt=0.0, description="Gumbel-sigmoid / Gumbel-softmax temperature")
    init_offset: float = Field(4.0, description="added to unit logits so every mask starts at 1")
    router: Literal["intervals", "mlp"] = Field(
        "intervals",
        description="learned routing: intervals = N_e-1 learnable timestep boundaries, so every expert "
        "serves one contiguous interval (starts as equal splits); mlp = the paper's free per-timestep "
        "router on the sinusoidal timestep projection (no contiguity)",
    )
    edge_width: float = Field(
        0.03,
        gt=0.0,
        le=0.5,
        description="intervals router: width of the soft edge of an interval, as a share of the training "
        "timesteps (the gradient reaches boundaries through timesteps within a few edge widths)",
    )
    warm_start_steps: int = Field(
        0,
        ge=0,
        description="iterations at the start of the search in which the experts are one shared expert "
        "(one mask for every timestep, routing unused): a Static run, draw for draw; at this iteration the "
        "`experts.count` experts are grown from it (identical masks) and then learn apart. 0 = independent "
        "experts from the first iteration (the paper); at most `train.hypernet_steps`",
    )


class LossConfig(_Section):
    """Loss weights: backbone ``L_U`` and hypernetwork ``L_H``."""

    denoise: float = Field(0.0, ge=0.0, description="weight of the plain denoising loss")
    output_kd: float = Field(1.0, ge=0.0, description="weight of output distillation (MSE to teacher)")
    feature_kd: float = Field(1.0, ge=0.0, description="weight of block-feature distillation")
    ratio: float = Field(5.0, ge=0.0, description="lambda_ratio of the log-ratio budget loss")
    balance: float = Field(1.0, ge=0.0, description="lambda_balance of the router load-balance loss")
    snr_gamma: float | None = Field(None, gt=0.0, description="min-SNR weighting of the denoising loss")

    @model_validator(mode="after")
    def _check_any(self) -> LossConfig:
        if self.denoise == 0 and self.output_kd == 0 and self.feature_kd == 0:
            raise ValueError("at least one of `denoise`, `output_kd`, `feature_kd` must be > 0")
        return self


class TrainConfig(_Section):
    """The single-stage training schedule."""

    steps: int = Field(600, ge=1, description="total iterations")
    hypernet_steps: int = Field(
        400, ge=0, description="T_end: iterations that train the hypernetwork; later ones fine-tune only"
    )
    schedule: Literal["single_stage", "two_stage"] = Field(
        "single_stage",
        description="single_stage: ALTER (backbone and hypernet alternate); two_stage: hypernet "
        "alone with the backbone frozen for hypernet_steps, then backbone fine-tuning",
    )
    batch_size: int = Field(32, ge=1, description="samples per iteration")
    lr: float = Field(1e-4, gt=0.0, description="backbone AdamW learning rate")
    hypernet_lr: float = Field(5e-3, gt=0.0, description="hypernetwork AdamW learning rate")
    weight_decay: float = Field(1e-2, ge=0.0, description="AdamW weight decay (both optimisers)")
    warmup_steps: int = Field(20, ge=0, description="linear learning-rate warm-up of the backbone")
    hypernet_warmup_steps: int = Field(20, ge=0, description="linear warm-up of the hypernetwork")
    lr_decay: Literal["constant", "cosine", "linear"] = Field(
        "constant", description="backbone learning rate after warm-up: constant, or a cosine or linear fall "
        "to 0 at `steps` (over the last `lr_decay_steps` iterations)"
    )
    lr_decay_steps: int | None = Field(
        None, ge=1, description="iterations the backbone's `lr_decay` spans, at the end of training; None = "
        "all after the warm-up"
    )
    hypernet_lr_decay: Literal["constant", "cosine"] = Field(
        "cosine",
        description="hypernetwork learning rate after warm-up: cosine to 5% at `hypernet_steps` settles "
        "the hard expert table on the budget; constant is the paper's reference schedule",
    )
    grad_clip: float = Field(1.0, gt=0.0, description="max gradient norm (both optimisers)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of every random draw of the run")
    precision: Precision = Field("fp32", description="autocast dtype on CUDA (CPU always runs fp32)")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    checkpoint_every: int = Field(100, ge=1, description="iterations between checkpoints")
    log_every: int = Field(10, ge=1, description="iterations between progress reports")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch; None = torch default")

    @model_validator(mode="after")
    def _check_steps(self) -> TrainConfig:
        if self.hypernet_steps > self.steps:
            raise ValueError(
                f"`hypernet_steps` ({self.hypernet_steps}) cannot exceed `steps` ({self.steps})"
            )
        if self.lr_decay_steps is not None and self.lr_decay_steps > self.steps:
            raise ValueError(f"`lr_decay_steps` ({self.lr_decay_steps}) cannot exceed `steps` ({self.steps})")
        return self


class EvalConfig(_Section):
    """How experts and the dense teacher are sampled and scored."""

    scheduler: str = Field(
        "ddim",
        description="sampler used for evaluation (see alternas.samplers)",
        json_schema_extra=lambda schema: (schema.pop("type"), schema.update(sampler_schema())),
    )
    steps: int = Field(20, ge=1, le=1000, description="sampler steps")
    num_samples: int = Field(500, ge=2, description="images generated per model for the metrics")
    batch_size: int = Field(250, ge=1, description="images per sampling batch")
    guidance_scale: float = Field(
        1.0, ge=1.0, description="classifier-free guidance; > 1 runs two forwards per step"
    )
    seed: int = Field(
        1234, ge=0, le=2**32 - 1, description="seed of the evaluation noise (same for experts and teacher)"
    )
    metrics: list[QualityMetricName] = Field(
        default_factory=lambda: ["fid", "accuracy", "psnr", "ssim"], description="quality metrics"
    )
    latency_repeats: int = Field(5, ge=1, description="timed repeats for latency (median)")
    latency_batch_size: int = Field(16, ge=1, description="images per timed sampling run")
    prompts_file: str | None = Field(None, description="text file with one evaluation prompt per line")
    inception_weights: str | None = Field(None, description="local FID Inception weights (real models)")
    clip_model: str | None = Field(None, description="local CLIP model folder for CLIP score")

    @field_validator("metrics")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"metrics must not repeat, got {value}")
        return value

    _named_sampler = field_validator("scheduler", mode="before")(lambda cls, value: sampler_names(value))
    _known_sampler = field_validator("scheduler")(lambda cls, value: check_sampler_name(value))


class RunConfig(_Section):
    """Everything one ALTER training + evaluation run needs."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    units: UnitsConfig = Field(default_factory=UnitsConfig)
    experts: ExpertsConfig = Field(default_factory=ExpertsConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    hypernet: HypernetConfig = Field(default_factory=HypernetConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _check_warm_start(self) -> RunConfig:
        steps = self.hypernet.warm_start_steps
        if steps and self.experts.count == 1:
            raise ValueError("`hypernet.warm_start_steps` grows several experts from one; with `experts.count: 1` "
                             "leave it 0")
        if steps > self.train.hypernet_steps:
            raise ValueError(f"`hypernet.warm_start_steps` ({steps}) cannot exceed `train.hypernet_steps` "
                             f"({self.train.hypernet_steps})")
        return self


class BaselineConfig(_Section):
    """The step-count baseline front: the dense teacher at a ladder of sampler step counts.

    It is measured once per search, before the trials, with the trials' evaluation noise, sampler,
    guidance and metrics; a trial is worth shipping only beyond it.
    """

    steps: list[int] | None = Field(
        None,
        description="dense sampler step counts to measure; None = a ladder of `rungs` counts from "
        "`lowest_share` of the largest searched step count up to it, plus every searched step count; "
        "[] = no baseline",
    )
    rungs: int = Field(5, ge=1, le=50, description="step counts of the default ladder (spaced geometrically)")
    lowest_share: float = Field(
        0.25, gt=0.0, le=1.0, description="the default ladder's lowest step count, as a share of the largest"
    )
    reference_steps: int | None = Field(
        None, ge=1, le=1000, description="also measure the dense teacher at this many steps (e.g. the paper's 50)"
    )
    samplers: list[str] | None = Field(
        None,
        description="samplers the dense teacher is measured with; None = every sampler alternas offers (the best "
        "a user gets for free), e.g. [ddim] for a deployment that cannot change its scheduler",
        json_schema_extra=lambda schema: schema.update(items=sampler_schema()),
    )

    _named_samplers = field_validator("samplers", mode="before")(lambda cls, value: sampler_names(value))
    _check_samplers = field_validator("samplers")(lambda cls, value: check_sampler_names(value))

    def baseline_samplers(self, recipe_sampler: str) -> list[str]:
        """The samplers to measure: ``samplers``, else every distinct offered one; the recipe's own
        (``eval.scheduler``) always first."""
        names = self.samplers if self.samplers is not None else distinct_samplers()
        return [recipe_sampler, *(name for name in names if name != recipe_sampler)]

    @field_validator("steps")
    @classmethod
    def _check_steps(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (len(set(value)) != len(value) or any(not 1 <= s <= 1000 for s in value)):
            raise ValueError(f"step counts must be distinct and between 1 and 1000, got {value}")
        return value

    def ladder(self, searched_steps: list[int]) -> list[int]:
        """The dense step counts to measure, ascending.

        Args:
            searched_steps: the sampler step counts the trials use (``space.steps`` or ``eval.steps``).
        """
        if self.steps is not None:
            counts = set(self.steps)
        else:
            largest = max(searched_steps)
            lowest = max(1, round(largest * self.lowest_share))
            exponents = [i / (self.rungs - 1) for i in range(self.rungs)] if self.rungs > 1 else [1.0]
            counts = {round(lowest * (largest / lowest) ** e) for e in exponents} | set(searched_steps)
        if self.reference_steps is not None:
            counts.add(self.reference_steps)
        return sorted(counts)


class ConfirmConfig(_Section):
    """Confirmation: the search's best candidates retrained with new training seeds after the search.

    A search trial is one training seed scored once, so its place on the front is partly luck. The
    ``top_k`` best trials by the winner rule (among those no dense point beats) are retrained with
    ``seeds`` new training seeds each, as Ray Tune trials of the same run directory; the report then
    ranks configurations by their confirmed mean.
    """

    top_k: int = Field(2, ge=1, le=20, description="configurations to confirm: the winner rule's best trials")
    seeds: int = Field(2, ge=2, le=20, description="new training seeds per configuration")


class ReportConfig(_Section):
    """How a search's trials are ranked and which one wins (used by ``alternas report``/``export``)."""

    quality_metric: QualityMetricName = Field(
        "fid", description="quality axis of the Pareto front (fid: lower is better; others: higher)"
    )
    winner: Literal["fewest_macs_within_quality", "best_quality_under_macs", "knee"] = Field(
        "fewest_macs_within_quality",
        description="fewest_macs_within_quality: fewest total MACs whose quality is within "
        "`quality_tolerance` of the teacher's; best_quality_under_macs: best quality with total "
        "generation MACs <= `macs_budget_share` of the dense teacher's at the same steps; knee: the "
        "front point farthest from the line joining its ends (normalised axes)",
    )
    quality_tolerance: float = Field(
        0.10, ge=0.0, description="relative quality loss allowed vs the teacher (0.10 = 10%)"
    )
    macs_budget_share: float | None = Field(
        None, gt=0.0, le=1.0, description="total-generation MACs cap for best_quality_under_macs"
    )
    baseline: BaselineConfig = Field(
        default_factory=BaselineConfig,
        description="the dense step-count baseline front every trial is compared with",
    )
    confidence: float = Field(
        0.95, gt=0.5, lt=1.0, description="coverage of the report's intervals (evaluation noise from each image's "
        "influence on the metric, paired where two models share the noise; Student t over seeds for confirmed "
        "configurations)"
    )
    confirm: ConfirmConfig | None = Field(
        None, description="retrain the best candidates with new seeds after the search (`alternas confirm` does it "
        "later); None = off"
    )
