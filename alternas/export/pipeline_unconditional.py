"""``AlternasUnconditionalPipeline``: unconditional pixel-space generation with a ``UNet2DModel`` (routed or
dense) and any diffusers scheduler.

An unconditional ``UNet2DModel`` pipeline of diffusers (``DDPMPipeline``) samples correctly only with
schedulers that need neither input scaling nor a ``generator`` of their own: it passes ``generator`` to every
``scheduler.step`` (``UniPCMultistepScheduler.step`` takes none, so it fails) and never applies
``init_noise_sigma`` nor ``scale_model_input`` (``EulerDiscreteScheduler`` works in sigma space, so it
samples wrong images). This pipeline samples with alternas' evaluation loop
(:func:`~alternas.evaluation.sampling.denoise`): the initial noise times ``init_noise_sigma``,
``scale_model_input`` before every model call, and ``generator`` passed to ``step`` only where ``step``
takes it (ancestral samplers draw their noise from it). Every sampler alternas offers samples right with it.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput, UNet2DModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from ..evaluation.sampling import denoise
from . import modeling  # noqa: F401  (the routed unet class must be imported for from_pretrained)
from ._pipeline_output import check_output_type, image_output

__all__ = ["AlternasUnconditionalPipeline"]


class AlternasUnconditionalPipeline(DiffusionPipeline):
    """Unconditional image generation in pixel space (a ``DDPMPipeline`` that works with every scheduler).

    Args:
        unet (`UNet2DModel`): the denoiser (routed or dense), predicting what ``scheduler`` expects
            (``prediction_type`` of its config).
        scheduler (`SchedulerMixin`): the sampler, any diffusers scheduler.
        default_num_inference_steps (`int`, defaults to 20): steps when a call does not say; an export
            sets the step count its routing table was searched for.
    """

    model_cpu_offload_seq = "unet"

    def __init__(
        self, unet: UNet2DModel, scheduler: SchedulerMixin, default_num_inference_steps: int = 20
    ) -> None:
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)
        self.register_to_config(default_num_inference_steps=default_num_inference_steps)

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one image (``sample_size`` may be one int or ``(height, width)``)."""
        config = self.unet.config
        size = config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return int(config.in_channels), int(height), int(width)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        num_inference_steps: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> ImagePipelineOutput | tuple[Any]:
        """Generate ``batch_size`` images.

        Args:
            batch_size (`int`, defaults to 1): images to generate.
            num_inference_steps (`int`, *optional*): sampler steps (default: ``default_num_inference_steps``).
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): source of the initial noise,
                and of the fresh noise of ancestral samplers (those whose ``step`` takes a ``generator``).
            latents (`torch.Tensor` of shape `(batch_size, C, H, W)`, *optional*): the initial noise (unit
                variance, scaled here by the scheduler's ``init_noise_sigma``); drawn from ``generator`` when
                ``None``.
            output_type (`str`, defaults to `"pil"`): ``"pil"``, ``"np"`` (``(B, H, W, C)`` float in
                ``[0, 1]``) or ``"pt"`` (``(B, C, H, W)`` float in ``[0, 1]``).
            return_dict (`bool`, defaults to `True`): return an ``ImagePipelineOutput`` or a tuple.

        Returns:
            `ImagePipelineOutput` whose ``images`` are as ``output_type`` says, or the tuple ``(images,)``.
        """
        shape = (batch_size, *self.sample_shape)
        self.check_inputs(batch_size, latents, shape, output_type)
        steps = num_inference_steps or self.config.default_num_inference_steps
        device = self._execution_device
        dtype = self.unet.dtype
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)  # (B, C, H, W)

        def predict(sample: torch.Tensor, timestep: torch.Tensor, condition: dict[str, Any]) -> torch.Tensor:
            return self.unet(sample, timestep, return_dict=False)[0]  # (B, C, H, W)

        sample = denoise(predict, self.scheduler, latents.to(device, dtype), {}, None, 1.0, steps, generator=generator)
        self.maybe_free_model_hooks()
        return image_output(sample, output_type, return_dict)

    def check_inputs(
        self, batch_size: int, latents: torch.Tensor | None, shape: tuple[int, ...], output_type: str
    ) -> None:
        """Raise ``ValueError`` for a batch size below 1, mis-shaped latents or an unknown output type."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
        if latents is not None and tuple(latents.shape) != shape:
            raise ValueError(f"`latents` has shape {tuple(latents.shape)}; expected {shape}")
        check_output_type(output_type)
