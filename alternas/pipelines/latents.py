"""The VAE of a latent diffusion pipeline: images in ``[-1, 1]`` <-> scaled latents."""

from __future__ import annotations

import torch
from torch import nn

from ._placement import place_frozen

__all__ = ["LatentCodec"]


class LatentCodec:
    """Encode images to the latents a backbone is trained on, and decode samples back to images.

    Latents are ``(posterior mean - shift_factor) * scaling_factor`` of the VAE's config (SD:
    ``scaling_factor`` 0.18215, no shift), the convention of diffusers' pipelines and training
    scripts. The posterior mean (not a random draw) is used so that pre-encoded latents do not depend
    on batching or seeds.

    Args:
        vae (`AutoencoderKL`): the pipeline's VAE (kept frozen).
        cuda_dtype: dtype of the VAE on CUDA (the teacher's precision); float32 elsewhere.
    """

    def __init__(self, vae: nn.Module, cuda_dtype: torch.dtype = torch.float32) -> None:
        self.vae = vae.eval().requires_grad_(False)
        self.cuda_dtype = cuda_dtype
        config = vae.config
        self.scaling_factor = float(config.scaling_factor)
        self.shift_factor = float(getattr(config, "shift_factor", None) or 0.0)

    @property
    def spatial_factor(self) -> int:
        """Image pixels per latent pixel along one side (8 for SD and DiT)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        """Channels ``C`` of one latent (4 for SD 1.x/2.x and DiT)."""
        return int(self.vae.config.latent_channels)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, C, H/f, W/f)`` float32 of images ``(B, 3, H, W)`` in ``[-1, 1]`` (on their device)."""
        dtype = place_frozen(self.vae, images.device, self.cuda_dtype)
        posterior = self.vae.encode(images.to(dtype)).latent_dist
        return ((posterior.mean - self.shift_factor) * self.scaling_factor).float()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` float32 in about ``[-1, 1]`` of latents ``(B, C, h, w)`` (on their device)."""
        dtype = place_frozen(self.vae, latents.device, self.cuda_dtype)
        scaled = latents.to(dtype) / self.scaling_factor + self.shift_factor
        return self.vae.decode(scaled).sample.float()
