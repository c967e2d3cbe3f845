"""Loading Stable Diffusion and DiT pipelines (local folders, the Hugging Face cache) as model bundles."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from diffusers import DiTTransformer2DModel, UNet2DConditionModel, UNet2DModel

from alternas.bundle import UnconditionalConditioner
from alternas.config import ModelConfig
from alternas.exceptions import BackboneError, DataError
from alternas.pipelines import ClassNameConditioner, TextConditioner
from alternas.sources import load_bundle

from ._tiny_pipelines import DIT_CLASSES, IMAGE_SIZE, TEXT_LENGTH, save_dit_pipeline, save_sd_pipeline


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory):
    return save_sd_pipeline(tmp_path_factory.mktemp("sd") / "pipeline")


@pytest.fixture(scope="module")
def dit_dir(tmp_path_factory):
    return save_dit_pipeline(tmp_path_factory.mktemp("dit") / "pipeline")


def test_stable_diffusion_folder_gives_text_conditioning_latents_and_its_schedule(sd_dir):
    bundle = load_bundle(ModelConfig(backbone=str(sd_dir)))
    assert isinstance(bundle.backbone, UNet2DConditionModel)
    assert bundle.prediction_type == "v_prediction"
    assert bundle.scheduler_config["beta_schedule"] == "scaled_linear"
    conditioner = bundle.conditioner
    assert isinstance(conditioner, TextConditioner) and conditioner.condition_length == TEXT_LENGTH

    prompts = conditioner.encode(["a photo of a red cat", "a blue dog"], "cpu")["encoder_hidden_states"]
    assert prompts.shape == (2, TEXT_LENGTH, 32)
    assert not torch.allclose(prompts[0], prompts[1])
    null = conditioner.null(3, "cpu")["encoder_hidden_states"]
    empty = conditioner.encode([""], "cpu")["encoder_hidden_states"]
    assert null.shape == (3, TEXT_LENGTH, 32) and torch.equal(null[2], empty[0])

    images = torch.rand(2, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    latents = bundle.encode(images)
    assert latents.shape == (2, 4, IMAGE_SIZE // 8, IMAGE_SIZE // 8)
    vae = bundle.codec.vae
    raw = vae.encode(images).latent_dist.mean
    assert torch.allclose(latents, raw * vae.config.scaling_factor, atol=1e-6)
    decoded = bundle.decode(latents)
    assert decoded.shape == images.shape
    assert torch.allclose(decoded, vae.decode(latents / vae.config.scaling_factor).sample, atol=1e-6)


def test_dit_folder_gives_named_classes_and_the_null_class(dit_dir):
    bundle = load_bundle(ModelConfig(backbone=str(dit_dir)))
    assert isinstance(bundle.backbone, DiTTransformer2DModel) and bundle.prediction_type == "epsilon"
    conditioner = bundle.conditioner
    assert isinstance(conditioner, ClassNameConditioner)
    assert conditioner.null_label == len(DIT_CLASSES) and conditioner.supports_guidance
    labels = conditioner.encode(["goldfish", "Tinca tinca", 3, "2"], "cpu")["class_labels"]
    assert labels.tolist() == [1, 0, 3, 2]
    assert conditioner.null(2, "cpu")["class_labels"].tolist() == [4, 4]
    with pytest.raises(DataError, match="neither an id nor a known class name"):
        conditioner.encode(["zebra"], "cpu")
    with pytest.raises(DataError, match="outside 0..3"):
        conditioner.encode([7], "cpu")


def test_dit_own_label_dropout_is_off_so_training_mode_is_deterministic(dit_dir):
    bundle = load_bundle(ModelConfig(backbone=str(dit_dir)))
    model = bundle.backbone.train()
    sample = torch.randn(64, 4, 8, 8)
    timesteps = torch.full((64,), 500)
    labels = torch.arange(64) % 4
    first = model(sample, timesteps, class_labels=labels).sample
    second = model(sample, timesteps, class_labels=labels).sample
    assert torch.equal(first, second)


def test_hub_id_resolves_to_the_local_cache_snapshot(sd_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    snapshot = tmp_path / "hub" / "models--tiny--sd" / "snapshots" / ("0" * 40)
    shutil.copytree(sd_dir, snapshot)
    (tmp_path / "hub" / "models--tiny--sd" / "refs").mkdir()
    (tmp_path / "hub" / "models--tiny--sd" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    bundle = load_bundle(ModelConfig(backbone="tiny/sd"))
    assert bundle.source == str(snapshot) and isinstance(bundle.conditioner, TextConditioner)
    with pytest.raises(BackboneError, match="neither a local folder nor a Hugging Face id in the local cache"):
        load_bundle(ModelConfig(backbone="tiny/absent"))


def test_random_weights_from_model_config_keep_the_pipeline_parts(sd_dir):
    config = dict(UNet2DConditionModel.load_config(sd_dir / "unet"))
    first = load_bundle(ModelConfig(backbone=str(sd_dir), config=config))
    second = load_bundle(ModelConfig(backbone=str(sd_dir), config=config))
    loaded = load_bundle(ModelConfig(backbone=str(sd_dir)))
    weights = [dict(b.backbone.named_parameters())["conv_in.weight"] for b in (first, second, loaded)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])
    assert "random weights" in first.source and isinstance(first.conditioner, TextConditioner)


def test_lone_pixel_model_folder_with_its_scheduler(tmp_path):
    model = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                        norm_num_groups=4)
    model.save_pretrained(tmp_path / "ddpm")
    (tmp_path / "ddpm" / "scheduler_config.json").write_text(json.dumps({"_class_name": "DDPMScheduler"}))
    bundle = load_bundle(ModelConfig(backbone=str(tmp_path / "ddpm")))
    assert isinstance(bundle.conditioner, UnconditionalConditioner)
    assert bundle.encode is None and bundle.decode is None


@pytest.mark.parametrize(
    "broken, message",
    [
        ("no_text_encoder", "has a UNet2DConditionModel but no `text_encoder` and `tokenizer`"),
        ("no_scheduler", "has no scheduler config"),
        ("no_vae", "takes 4 input channels, but its data would be RGB pixels"),
        ("sdxl", "two-text-encoder pipeline"),
    ],
)
def test_incomplete_pipelines_are_clear_errors(sd_dir, tmp_path, broken, message):
    copy = shutil.copytree(sd_dir, tmp_path / "copy")
    index = json.loads((copy / "model_index.json").read_text())
    if broken == "no_text_encoder":
        index["text_encoder"] = [None, None]
    elif broken == "no_scheduler":
        shutil.rmtree(copy / "scheduler")
    elif broken == "no_vae":
        del index["vae"]
    else:
        index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(BackboneError, match=message):
        load_bundle(ModelConfig(backbone=str(copy)))
