"""``AlternasDigitsPipeline``: the built-in digits model as a diffusers pipeline (unet + label encoder + scheduler).

With a routed ``unet`` (:class:`~alternas.export.modeling.RoutedUNet2DConditionModel`) every scheduler
step runs only the expert that serves its timestep; with a plain ``UNet2DConditionModel`` it is the
dense teacher. The sampling loop is alternas' own :func:`~alternas.evaluation.sampling.denoise`, so
an exported pipeline reproduces the images the search evaluated from the same noise.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput, UNet2DConditionModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from ..evaluation.sampling import denoise
from ..zoo.digits import DigitsLabelEncoder
from . import modeling  # noqa: F401  (the routed unet class must be imported for from_pretrained)
from ._pipeline_output import check_output_type, image_output

__all__ = ["AlternasDigitsPipeline"]


class AlternasDigitsPipeline(DiffusionPipeline):
    """Class-conditional generation of 8x8 digits (pixel space, one channel).

    Args:
        unet (`UNet2DConditionModel`): the denoiser (routed or dense).
        label_encoder (`DigitsLabelEncoder`): class label -> one conditioning token.
        scheduler (`SchedulerMixin`): the sampler.
        default_num_inference_steps (`int`, defaults to 20): steps when a call does not say; an export
            sets the step count its routing table was searched for.
        default_guidance_scale (`float`, defaults to 1.0): classifier-free guidance when a call does not
            say (1 = off).
    """

    model_cpu_offload_seq = "label_encoder->unet"

    def __init__(
        self,
        unet: UNet2DConditionModel,
        label_encoder: DigitsLabelEncoder,
        scheduler: SchedulerMixin,
        default_num_inference_steps: int = 20,
        default_guidance_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.register_modules(unet=unet, label_encoder=label_encoder, scheduler=scheduler)
        self.register_to_config(
            default_num_inference_steps=default_num_inference_steps,
            default_guidance_scale=default_guidance_scale,
        )

    @property
    def num_classes(self) -> int:
        """Number of digit classes; labels are ``0 .. num_classes - 1``."""
        return int(self.label_encoder.config.num_classes)

    @torch.no_grad()
    def __call__(
        self,
        class_labels: int | list[int],
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> ImagePipelineOutput | tuple[Any]:
        """Generate one image per label.

        Args:
            class_labels (`int` or `list[int]`): digit classes, each in ``0 .. num_classes - 1``.
            num_inference_steps (`int`, *optional*): sampler steps (default: ``default_num_inference_steps``).
            guidance_scale (`float`, *optional*): classifier-free guidance, > 1 runs a second,
                unconditional forward per step (default: ``default_guidance_scale``).
            generator (`torch.Generator`, *optional*): source of the initial noise, and of the fresh noise of
                ancestral samplers (those whose ``step`` takes a ``generator``).
            latents (`torch.Tensor` of shape `(batch, 1, H, W)`, *optional*): the initial noise (unit
                variance); drawn from ``generator`` when ``None``.
            output_type (`str`, defaults to `"pil"`): ``"pil"``, ``"np"`` (``(B, H, W, 1)`` in ``[0, 1]``)
                or ``"pt"`` (``(B, 1, H, W)`` in ``[0, 1]``).
            return_dict (`bool`, defaults to `True`): return an ``ImagePipelineOutput`` or a tuple.
        """
        labels = [class_labels] if isinstance(class_labels, int) else list(class_labels)
        self.check_inputs(labels, latents, output_type)
        steps = num_inference_steps or self.config.default_num_inference_steps
        scale = self.config.default_guidance_scale if guidance_scale is None else guidance_scale
        device = self._execution_device
        dtype = self.unet.dtype
        config = self.unet.config
        shape = (len(labels), config.in_channels, config.sample_size, config.sample_size)
        noise = (
            latents.to(device, dtype)
            if latents is not None
            else randn_tensor(shape, generator, device, dtype)
        )

        condition = {"encoder_hidden_states": self._tokens(labels, device, dtype)}
        null = None
        if scale > 1.0:
            null = {"encoder_hidden_states": self._tokens([self.num_classes] * len(labels), device, dtype)}

        def predict(sample: torch.Tensor, timestep: torch.Tensor, cond: dict[str, Any]) -> torch.Tensor:
            return self.unet(sample, timestep, **cond, return_dict=False)[0]

        sample = denoise(predict, self.scheduler, noise, condition, null, scale, steps, generator=generator)
        self.maybe_free_model_hooks()
        return image_output(sample, output_type, return_dict)

    def check_inputs(self, labels: list[int], latents: torch.Tensor | None, output_type: str) -> None:
        """Raise ``ValueError`` for labels out of range, mis-shaped latents or an unknown output type."""
        bad = [label for label in labels if not 0 <= int(label) < self.num_classes]
        if not labels or bad:
            raise ValueError(
                f"`class_labels` must be a non-empty list of digits in 0..{self.num_classes - 1}, got {labels}"
            )
        if latents is not None and latents.shape[0] != len(labels):
            raise ValueError(f"`latents` has {latents.shape[0]} rows for {len(labels)} labels")
        check_output_type(output_type)

    def _tokens(self, labels: list[int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Conditioning tokens of shape ``(B, 1, embedding_dim)``."""
        ids = torch.as_tensor([int(label) for label in labels], dtype=torch.long, device=device)
        return self.label_encoder(ids).to(dtype)
