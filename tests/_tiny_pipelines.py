"""Tiny Stable Diffusion and DiT pipelines, data sets and metric weights, assembled from configs.

Everything has random weights and is saved the way the real thing is on disk (diffusers pipeline
folders, a CLIP tokenizer from vocab/merges files, a TorchScript Inception, a CLIP model folder), so
the real loading code runs on it. Images are 64 px; the 4-level VAE downsamples 8x like SD's, giving
8x8x4 latents.
"""

from __future__ import annotations

import json
import tarfile
import warnings
from pathlib import Path

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DiTPipeline,
    DiTTransformer2DModel,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from PIL import Image
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
)

IMAGE_SIZE = 64
TEXT_LENGTH = 16
TEXT_WIDTH = 32
WORDS = ["red", "green", "blue", "cat", "dog", "a", "photo", "of", "the", "on", "grass", "sky"]
#: SD 2.1's noise schedule (DDIM, scaled-linear betas)
SD_SCHEDULE = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "num_train_timesteps": 1000,
}


def tiny_tokenizer(directory: Path) -> CLIPTokenizer:
    """A CLIP BPE tokenizer over letters and a few words, built from vocab.json/merges.txt in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    tokens = list("abcdefghijklmnopqrstuvwxyz") + [c + "</w>" for c in "abcdefghijklmnopqrstuvwxyz"]
    merges = []
    for word in WORDS:  # merge letters left to right up to the whole word
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append(f"{pieces[0]} {pieces[1]}")
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            if pieces[0] not in tokens:
                tokens.append(pieces[0])
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    (directory / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    return CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"), model_max_length=TEXT_LENGTH)


def tiny_text_config(vocab_size: int) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=TEXT_WIDTH,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=TEXT_LENGTH,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 8, 16, 16],
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=IMAGE_SIZE,
        scaling_factor=0.5,
    )


def tiny_sd_unet() -> UNet2DConditionModel:
    """SD 2.x-style UNet (linear projections, cross-attention) on 8x8x4 latents."""
    torch.manual_seed(1)  # not alternas' random-weights seed, so `model.config` builds differ
    return UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1,
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=4,
        use_linear_projection=True,
        norm_num_groups=8,
    )


def save_sd_pipeline(directory: Path, prediction_type: str = "v_prediction") -> Path:
    """A StableDiffusionPipeline folder (SD 2.1-768 is ``v_prediction``)."""
    tokenizer = tiny_tokenizer(directory / "_vocab")
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(tiny_text_config(len(tokenizer)))
    scheduler = DDIMScheduler(prediction_type=prediction_type, **SD_SCHEDULE)
    pipeline = StableDiffusionPipeline(
        vae=tiny_vae(),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=tiny_sd_unet(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory)
    return directory


#: class names of the tiny DiT (``id2label`` of its model_index.json)
DIT_CLASSES = {0: "tench, Tinca tinca", 1: "goldfish", 2: "great white shark", 3: "tiger shark"}


def tiny_dit_config() -> dict:
    return {
        "num_attention_heads": 2,
        "attention_head_dim": 8,
        "in_channels": 4,
        "out_channels": 8,
        "num_layers": 4,
        "sample_size": IMAGE_SIZE // 8,
        "patch_size": 2,
        "num_embeds_ada_norm": len(DIT_CLASSES),
        "norm_num_groups": 4,
    }


def save_dit_pipeline(directory: Path) -> Path:
    """A DiTPipeline folder (epsilon prediction, learned sigma) with ``id2label``."""
    torch.manual_seed(0)
    transformer = DiTTransformer2DModel(**tiny_dit_config())
    scheduler = DDIMScheduler(beta_schedule="linear", clip_sample=False, num_train_timesteps=1000)
    DiTPipeline(transformer=transformer, vae=tiny_vae(), scheduler=scheduler).save_pretrained(directory)
    index_path = directory / "model_index.json"
    index = json.loads(index_path.read_text())
    index["id2label"] = {str(k): v for k, v in DIT_CLASSES.items()}
    index_path.write_text(json.dumps(index, indent=2))
    return directory


def image(seed: int, size: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)) -> Image.Image:
    """A smooth random RGB image of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)


def captions(count: int) -> list[str]:
    colours, animals = ["red", "green", "blue"], ["cat", "dog"]
    return [f"a photo of a {colours[i % 3]} {animals[i % 2]}" for i in range(count)]


def write_caption_folder(directory: Path, count: int, style: str = "metadata") -> Path:
    """Images with captions: ``metadata.jsonl`` (``text`` field) or ``.txt`` files beside the images."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, caption in enumerate(captions(count)):
        name = f"{i:03d}.png"
        image(i, (IMAGE_SIZE + 8 * (i % 3), IMAGE_SIZE)).save(directory / name)  # some not square
        if style == "metadata":
            rows.append(json.dumps({"file_name": name, "text": caption}))
        else:
            (directory / f"{i:03d}.txt").write_text(caption)
    if rows:
        (directory / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    return directory


def write_class_folder(directory: Path, per_class: int) -> Path:
    """Images in class subfolders named by class id (``0/``, ``1/``, ...)."""
    for label in DIT_CLASSES:
        (directory / str(label)).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image(100 * label + i).save(directory / str(label) / f"{i}.png")
    return directory


def write_tar_shards(directory: Path, count: int, shards: int = 2) -> Path:
    """webdataset-style shards: ``<key>.png`` + ``<key>.txt`` (caption) + ``<key>.cls`` (label)."""
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / "_members"
    staging.mkdir(exist_ok=True)
    texts = captions(count)
    for shard in range(shards):
        with tarfile.open(directory / f"shard-{shard:04d}.tar", "w") as tar:
            for i in range(shard, count, shards):
                key = f"sample{i:05d}"
                image(i).save(staging / f"{key}.png")
                (staging / f"{key}.txt").write_text(texts[i])
                (staging / f"{key}.cls").write_text(str(i % len(DIT_CLASSES)))
                for extension in ("png", "txt", "cls"):
                    tar.add(staging / f"{key}.{extension}", arcname=f"{key}.{extension}")
    for path in staging.iterdir():
        path.unlink()
    staging.rmdir()
    return directory


class TinyInception(torch.nn.Module):
    """Stands in for the TorchScript FID Inception: uint8 images of any size -> 32 features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 32, kernel_size=8, stride=8)

    def forward(self, images: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = images.to(torch.float32) / 127.5 - 1.0
        x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


def save_tiny_inception(path: Path) -> Path:
    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # the real FID Inception is TorchScript, so the stand-in is too
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(TinyInception()).save(str(path))
    return path


def save_tiny_clip(directory: Path) -> Path:
    """A CLIPModel (vision + text) and its CLIPProcessor folder."""
    tokenizer = tiny_tokenizer(directory / "_vocab")
    vocab = len(tokenizer)
    text = tiny_text_config(vocab).to_dict()
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
              "image_size": 32, "patch_size": 8}
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
    )
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
