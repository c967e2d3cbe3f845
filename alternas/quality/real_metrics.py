"""Quality metrics of real models: FID with Inception-v3 features and CLIP score, from local weights only.

* FID: torchmetrics' Fréchet statistics over the 2048-d pool features of the TorchScript Inception-v3
  that the reference FID implementations share (TensorFlow's 2015-12-05 weights, the file
  ``inception-2015-12-05.pt`` of NVIDIA's StyleGAN2-ADA metrics). No extra package is needed; the file
  is looked up at ``eval.inception_weights`` or ``<alternas cache>/weights/inception-2015-12-05.pt``.
* CLIP score: torchmetrics' ``CLIPScore`` (100 x cosine similarity of image and text embeddings) with
  a CLIP model loaded from ``eval.clip_model`` (a folder or a Hugging Face id in the local cache;
  default ``openai/clip-vit-large-patch14``).

Real images for FID are the data's reference set; prompts are the conditions the images were made for.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._cache import cache_root
from ..config import EvalConfig
from ..exceptions import ConfigError, DataError, MissingDependencyError
from .image_metrics import FrechetDistance, QualityMetric

__all__ = [
    "INCEPTION_FILE",
    "INCEPTION_URL",
    "DEFAULT_CLIP_MODEL",
    "InceptionFeatures",
    "ClipScore",
    "load_inception",
    "real_quality_metrics",
]

INCEPTION_FILE = "inception-2015-12-05.pt"
INCEPTION_URL = f"https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/{INCEPTION_FILE}"
DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"


def _metric_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class InceptionFeatures(nn.Module):
    """FID features of a TorchScript Inception-v3 detector, as a torchmetrics feature extractor.

    The detector takes uint8 images ``(N, 3, H, W)`` of any size (it resizes to 299 px itself) and,
    called with ``return_features=True``, returns ``(N, d)`` pool features (``d`` = 2048 for Inception).

    Args:
        detector: the loaded TorchScript module.
        device: where it runs; features are returned on the CPU.
    """

    def __init__(self, detector: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.detector = detector
        self.device = device
        probe = torch.zeros(1, 3, 64, 64, dtype=torch.uint8)
        self.num_features = int(self(probe).shape[-1])  # read by torchmetrics' FID

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(N, d)`` float32 of images: uint8 in ``[0, 255]`` or float in ``[0, 1]``."""
        if images.dtype != torch.uint8:
            images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
        return self.detector(images.to(self.device), return_features=True).float().cpu()


def load_inception(path: str | None) -> InceptionFeatures:
    """The FID Inception detector from ``path`` (``None``: the alternas cache's ``weights/`` folder).

    Raises:
        MissingDependencyError: the file is not there (the message says where to get it).
        ConfigError: the file is not a TorchScript module.
    """
    file = Path(path).expanduser() if path else cache_root() / "weights" / INCEPTION_FILE
    if not file.is_file():
        raise MissingDependencyError(
            f"FID needs the Inception-v3 weights `{INCEPTION_FILE}` at `{file}` (set "
            f"`eval.inception_weights` to use another path); download {INCEPTION_URL} there, or drop "
            "`fid` from `eval.metrics`"
        )
    device = _metric_device()
    try:
        with warnings.catch_warnings():  # the reference FID weights only exist as TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            detector = torch.jit.load(str(file), map_location=device).eval()
    except (RuntimeError, ValueError) as error:
        raise ConfigError(
            f"`eval.inception_weights` = `{file}` is not a TorchScript Inception model ({error}); use "
            f"{INCEPTION_URL}"
        ) from error
    return InceptionFeatures(detector, device)


class _ClipEmbeddings(nn.Module):
    """A ``CLIPModel`` whose ``get_image_features``/``get_text_features`` return embedding tensors.

    torchmetrics' ``CLIPScore`` expects tensors; transformers 5 returns output objects whose
    ``pooler_output`` holds the projected embeddings.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.config = model.config

    @staticmethod
    def _tensor(output: Any) -> torch.Tensor:
        return output if isinstance(output, torch.Tensor) else output.pooler_output

    def get_image_features(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self._tensor(self.model.get_image_features(*args, **kwargs))

    def get_text_features(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self._tensor(self.model.get_text_features(*args, **kwargs))


class ClipScore(QualityMetric):
    """Mean CLIP score of images against the text of the conditions they were generated for.

    Args:
        model: a ``transformers.CLIPModel``.
        processor: its ``CLIPProcessor``.
        describe: condition -> text (the prompt, or a class name); ``None`` if it has none.
        batch_size: images per CLIP batch.
    """

    names = ("clip",)

    def __init__(
        self,
        model: nn.Module,
        processor: Any,
        describe: Callable[[Any], str | None],
        batch_size: int = 64,
    ) -> None:
        from torchmetrics.multimodal.clip_score import CLIPScore

        self.describe = describe
        self.batch_size = batch_size
        embeddings = _ClipEmbeddings(model)
        self.metric = CLIPScore(model_name_or_path=lambda: (embeddings, processor)).to(_metric_device())

    def score(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        texts = [self.describe(condition) for condition in conditions]
        if any(text is None for text in texts):
            raise ConfigError("the `clip` metric needs prompts or named classes; this model's conditions have no text")
        self.metric.reset()
        pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8)
        with torch.no_grad():
            for start in range(0, len(pixels), self.batch_size):
                self.metric.update(
                    pixels[start : start + self.batch_size].to(_metric_device()),
                    texts[start : start + self.batch_size],
                )
            return {"clip": float(self.metric.compute())}


def load_clip(name: str | None) -> tuple[nn.Module, Any]:
    """A CLIP model and processor from a local folder or a Hugging Face id in the local cache.

    Raises:
        MissingDependencyError: it is not on disk.
    """
    from transformers import CLIPModel, CLIPProcessor

    name = name or DEFAULT_CLIP_MODEL
    try:
        model = CLIPModel.from_pretrained(name, local_files_only=True).eval()
        processor = CLIPProcessor.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as error:
        raise MissingDependencyError(
            f"the `clip` metric needs a CLIP model on disk; `{name}` was not found ({error}). Set "
            "`eval.clip_model` to a folder with a CLIPModel and its processor (e.g. `huggingface-cli "
            f"download {DEFAULT_CLIP_MODEL}`), or drop `clip` from `eval.metrics`"
        ) from error
    return model.to(_metric_device()), processor


def real_quality_metrics(
    names: Sequence[str],
    eval_config: EvalConfig,
    *,
    reference: Any,
    describe: Callable[[Any], str | None],
) -> list[QualityMetric]:
    """The quality metrics of a real-model run.

    Args:
        names: wanted metrics among ``"fid"`` and ``"clip"``.
        eval_config: the eval section (weights locations).
        reference: the run's :class:`~alternas.pipelines.ReferenceSet` (FID real images).
        describe: condition -> text, for the CLIP score.

    Raises:
        ConfigError: a metric real models do not offer (``accuracy`` needs a digits classifier).
        MissingDependencyError: weights a metric needs are not on disk.
        DataError: FID without reference images (no training data was loaded).
    """
    metrics: list[QualityMetric] = []
    unknown = [name for name in names if name not in ("fid", "clip")]
    if unknown:
        raise ConfigError(
            f"`eval.metrics` has {unknown}, which real models do not offer; use fid, clip, psnr, ssim"
        )
    if "fid" in names:
        if reference.images is None:
            raise DataError("FID needs real images: no training data was loaded for this model")
        metrics.append(FrechetDistance(load_inception(eval_config.inception_weights), reference.images))
    if "clip" in names:
        model, processor = load_clip(eval_config.clip_model)
        metrics.append(ClipScore(model, processor, describe))
    return metrics
