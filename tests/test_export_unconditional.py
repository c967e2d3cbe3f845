"""``AlternasUnconditionalPipeline``: an unconditional ``UNet2DModel`` export samples with every sampler
alternas offers, the diffusers way and with ``alternas generate`` alike, and its samples are right.

What "right" means without a trained model: the backbone is swapped for the exact noise prediction of a
known data distribution (each pixel Gaussian, :class:`GaussianDataDenoiser`), whose probability-flow ODE
every deterministic sampler must follow, so at 10 steps each lands near 50-step DDIM from the same noise.
A loop that forgets a scheduler's ``init_noise_sigma`` or ``scale_model_input`` (diffusers' ``DDPMPipeline``
with Euler) lands far away; one that passes ``generator`` to a ``step`` without it (UniPC) fails.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler, DiffusionPipeline, ModelMixin, UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.unets.unet_2d import UNet2DOutput
from PIL import Image

from alternas.backbones import adapter_for
from alternas.bundle import UnconditionalConditioner
from alternas.config import RunConfig
from alternas.evaluation import dense_predictor, generate
from alternas.export import (
    AlternasUnconditionalPipeline,
    export_plan,
    generate_images,
    load_experts,
    plan_from_masks,
    read_expert_config,
)
from alternas.routing import manual_assignment
from alternas.samplers import distinct_samplers, get_sampler, make_scheduler

from .conftest import SCHEDULE, cli_output

#: every sampler alternas offers, each scheduler-and-settings pair once, and ancestral DDPM
SAMPLERS = [*distinct_samplers(), "ddpm"]
#: the deterministic ones (DDPM draws fresh noise at every step)
DETERMINISTIC = distinct_samplers()
STEPS = 3


def tiny_unconditional_unet() -> UNet2DModel:
    """Unconditional pixel-space UNet2DModel on 8x8 RGB (as diffusers' unconditional training saves it)."""
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, block_out_channels=(16, 32),
        down_block_types=("AttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "AttnUpBlock2D"),
        layers_per_block=1, attention_head_dim=8, norm_num_groups=8,
    ).eval()


class GaussianDataDenoiser(ModelMixin, ConfigMixin):
    """The exact noise prediction for data whose pixels are independent Gaussians ``N(mean, std**2)``.

    With ``x_t = sqrt(a) x_0 + sqrt(1 - a) eps`` (``a`` = alpha_bar of the training schedule at ``t``),
    ``E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mean) / (a std**2 + 1 - a)``. The mean runs from -0.3 to 0.3
    over the pixels, so that most samples stay inside DDIM's clipping range ``[-1, 1]``.
    """

    @register_to_config
    def __init__(self, sample_size: int = 8, in_channels: int = 3, std: float = 0.5) -> None:
        super().__init__()
        self.register_buffer("alphas_cumprod", DDPMScheduler(**SCHEDULE).alphas_cumprod.float())  # (T,)
        mean = torch.linspace(-0.3, 0.3, in_channels * sample_size * sample_size)
        self.register_buffer("mean", mean.reshape(in_channels, sample_size, sample_size))  # (C, H, W)

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | float, return_dict: bool = True
    ) -> UNet2DOutput | tuple[torch.Tensor]:
        last = self.alphas_cumprod.shape[0] - 1
        t = torch.as_tensor(timestep).round().long().clamp(0, last).expand(sample.shape[0])  # (B,)
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        eps = (1 - a).sqrt() * (sample - a.sqrt() * self.mean) / (a * self.config.std**2 + 1 - a)
        return UNet2DOutput(sample=eps) if return_dict else (eps,)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """``exports(sampler)`` -> the export folder of a routed tiny unconditional UNet searched with ``sampler``
    at ``STEPS`` steps, taken from a ``DDPMPipeline`` folder as diffusers' unconditional training saves it."""
    root = tmp_path_factory.mktemp("unconditional")
    unet = tiny_unconditional_unet()
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(**SCHEDULE)).save_pretrained(root / "base")
    unet.save_pretrained(root / "finetuned")
    keep = torch.ones(2, len(adapter_for(unet).discover_units()))  # (N_e, N_L)
    keep[1, ::2] = 0
    config = RunConfig.model_validate({"model": {"backbone": str(root / "base")}})
    made: dict[str, Path] = {}

    def export(sampler: str) -> Path:
        if sampler not in made:
            plan = plan_from_masks(
                unet, keep, manual_assignment(2, 1000), scheduler_config=SCHEDULE, scheduler=sampler, steps=STEPS
            )
            export_plan(plan, root / "finetuned", config, root / sampler)
            made[sampler] = root / sampler
        return made[sampler]

    return export


def pil_bytes(images) -> np.ndarray:
    """PIL images as one ``(N, H, W, C)`` uint8 array."""
    return np.stack([np.asarray(image) for image in images])


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_generates_from_the_export_with_diffusers_as_alternas_generate_does(
    sampler, exports, tmp_path, capsys
):
    export = exports(sampler)
    pipe = DiffusionPipeline.from_pretrained(export)
    assert type(pipe).__name__ == "AlternasUnconditionalPipeline"
    assert type(pipe.unet).__name__ == "RoutedUNet2DModel" and pipe.unet.num_experts == 2
    assert type(pipe.scheduler).__name__ == get_sampler(sampler).scheduler_class
    assert json.loads((export / "model_index.json").read_text())["_class_name"] == "AlternasUnconditionalPipeline"
    card = (export / "README.md").read_text()
    assert "# AlternasUnconditionalPipeline, unet: RoutedUNet2DModel" in card
    assert f"images = pipe(batch_size=4, num_inference_steps={STEPS}, generator=generator).images" in card

    images = pipe(batch_size=2, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0)).images
    assert len(images) == 2 and images[0].size == (8, 8) and images[0].mode == "RGB"
    again = pipe(batch_size=2, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0)).images
    assert np.array_equal(pil_bytes(images), pil_bytes(again))  # DDPM's step noise comes from the generator too

    expected = generate_images(load_experts(export), [None, None], steps=STEPS, guidance_scale=1.0, seed=0)
    assert np.array_equal(pil_bytes(images), (expected.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
    code, out = cli_output(
        capsys, "generate", str(export), "-n", "2", "--scale", "1", "--out", str(tmp_path / "cli")
    )  # the searched steps (STEPS), seed 0
    assert code == 0, out
    cli = [np.asarray(Image.open(tmp_path / "cli" / f"000{i}-image.png").convert("RGB")) for i in range(2)]
    assert np.array_equal(np.stack(cli), pil_bytes(images))


def test_output_types_and_latents_follow_the_ddpm_pipeline_conventions(exports):
    pipe = DiffusionPipeline.from_pretrained(exports("unipc"))
    latents = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    as_pt = pipe(batch_size=3, latents=latents, output_type="pt").images
    as_np = pipe(batch_size=3, latents=latents, output_type="np", return_dict=False)[0]
    assert as_pt.shape == (3, 3, 8, 8) and 0 <= float(as_pt.min()) and float(as_pt.max()) <= 1
    assert isinstance(as_np, np.ndarray) and as_np.shape == (3, 8, 8, 3)
    assert np.array_equal(as_np, as_pt.permute(0, 2, 3, 1).numpy())
    assert pipe.config.default_num_inference_steps == read_expert_config(exports("unipc")).sampler.steps
    with pytest.raises(ValueError, match="`output_type` must be 'pil', 'np' or 'pt', got 'latent'"):
        pipe(batch_size=1, output_type="latent")
    with pytest.raises(ValueError, match=r"`latents` has shape \(3, 3, 8, 8\); expected \(2, 3, 8, 8\)"):
        pipe(batch_size=2, latents=latents)
    with pytest.raises(ValueError, match="`batch_size` must be >= 1, got 0"):
        pipe(batch_size=0)


@pytest.mark.parametrize("sampler", DETERMINISTIC)
def test_the_pipeline_samples_exactly_like_the_evaluation_sampler(sampler):
    """What the search scored (alternas' evaluation loop) is what the exported pipeline samples."""
    unet = tiny_unconditional_unet()
    pipe = AlternasUnconditionalPipeline(unet=unet, scheduler=make_scheduler(sampler, SCHEDULE))
    noise = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    images = pipe(batch_size=2, latents=noise, num_inference_steps=STEPS, output_type="pt").images
    expected = generate(
        dense_predictor(adapter_for(unet)),
        scheduler_name=sampler,
        train_scheduler_config=SCHEDULE,
        steps=STEPS,
        noise=noise,
        conditions=[None, None],
        conditioner=UnconditionalConditioner(),
        guidance_scale=1.0,
        batch_size=2,
    )
    assert torch.equal(images, expected)


def _sample(export: Path, sampler: str, steps: int, batch_size: int = 8, seed: int = 0) -> torch.Tensor:
    """Images ``(N, C, H, W)`` in ``[0, 1]`` from ``export``'s pipeline with the exact Gaussian denoiser as its
    unet and ``sampler``'s scheduler, from the initial noise of ``seed``."""
    pipe = DiffusionPipeline.from_pretrained(export, unet=GaussianDataDenoiser())
    pipe.scheduler = make_scheduler(sampler, dict(pipe.scheduler.config))
    generator = torch.Generator().manual_seed(seed)
    images = pipe(batch_size=batch_size, num_inference_steps=steps, generator=generator, output_type="np").images
    return torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("sampler", DETERMINISTIC)
def test_every_deterministic_sampler_at_10_steps_lands_near_50_step_ddim_from_the_same_noise(sampler, exports):
    reference = _sample(exports("ddim"), "ddim", 50)
    # the reference itself: the ODE keeps (x_t - sqrt(a) mean) / sqrt(a std^2 + 1 - a) fixed from t = 980
    noise = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))  # the pipeline's first draw
    denoiser = GaussianDataDenoiser()
    a = denoiser.alphas_cumprod[980]
    std = denoiser.config.std
    exact = denoiser.mean + std * (noise - a.sqrt() * denoiser.mean) / (a * std**2 + 1 - a).sqrt()
    assert (reference - ((exact.clamp(-1, 1) + 1) / 2)).abs().mean() < 0.02

    images = _sample(exports(sampler), sampler, 10)
    gap = float((images - reference).abs().mean())  # in [0, 1] image units; pixels spread with std 0.25
    # right samplers: 0.02 or less; DDPMPipeline's Euler (no init_noise_sigma, no scale_model_input): 0.18
    assert gap < 0.04, f"{sampler} at 10 steps is {gap:.3f} from 50-step DDIM"


def test_ancestral_ddpm_samples_the_data_distribution(exports):
    images = _sample(exports("ddpm"), "ddpm", 100, batch_size=16)
    denoiser = GaussianDataDenoiser()
    std = denoiser.config.std
    standardized = (images * 2 - 1 - denoiser.mean) / std  # (N, C, H, W), ~N(0, 1) where the data is
    data = denoiser.mean + std * torch.randn(1000, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    target = ((data.clamp(-1, 1) - denoiser.mean) / std).std()  # the same after images clamp to [-1, 1]: 0.95
    # 100 ancestral steps come out a little narrow: 0.91 to 0.93
    assert abs(float(standardized.mean())) < 0.1 and abs(float(standardized.std() - target)) < 0.08


def test_an_older_export_that_says_ddpm_pipeline_still_loads_as_one(exports, tmp_path):
    """Exports written before ``AlternasUnconditionalPipeline`` name diffusers' ``DDPMPipeline``."""
    older = tmp_path / "older"
    shutil.copytree(exports("ddim_trailing"), older)
    index = json.loads((older / "model_index.json").read_text())
    del index["default_num_inference_steps"]  # DDPMPipeline.save_pretrained wrote the two parts only
    (older / "model_index.json").write_text(json.dumps({**index, "_class_name": "DDPMPipeline"}))
    pipe = load_experts(older)
    assert type(pipe) is DDPMPipeline and type(pipe.unet).__name__ == "RoutedUNet2DModel"
    images = generate_images(pipe, [None, None], steps=STEPS, guidance_scale=1.0, seed=0)
    assert images.shape == (2, 3, 8, 8)
