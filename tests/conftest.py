"""Shared fixtures: tiny backbones of every supported kind, a hermetic cache, a tiny digits bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from diffusers import DiTTransformer2DModel, UNet2DConditionModel, UNet2DModel

# Keep the suite fast and deterministic on 2 cores.
torch.set_num_threads(min(2, torch.get_num_threads()))


def tiny_unet_condition(**overrides) -> UNet2DConditionModel:
    """SD-style UNet: cross-attention down/up blocks, mid block with attention (16 units by default).

    ``overrides`` replace config entries (e.g. ``in_channels=4, out_channels=4`` for SD-style latents).
    """
    torch.manual_seed(0)
    config = {
        "sample_size": 8,
        "in_channels": 1,
        "out_channels": 1,
        "block_out_channels": (16, 32),
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
        "layers_per_block": 2,
        "cross_attention_dim": 32,
        "attention_head_dim": 2,
        "norm_num_groups": 8,
    }
    return UNet2DConditionModel(**{**config, **overrides}).eval()


def tiny_unet() -> UNet2DModel:
    """Class-conditional UNet2DModel with residual self-attention blocks."""
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        down_block_types=("AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D"),
        layers_per_block=2,
        attention_head_dim=8,
        norm_num_groups=8,
        num_class_embeds=10,
    ).eval()


def tiny_dit(num_classes: int = 10) -> DiTTransformer2DModel:
    """DiT with 4 adaLN-Zero blocks, learned sigma (out_channels = 2 x in_channels).

    ``num_classes`` is ``num_embeds_ada_norm`` (DiTPipeline uses class 1000 as the null class, so
    pipelines need 1000).
    """
    torch.manual_seed(0)
    return DiTTransformer2DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=8,
        num_layers=4,
        sample_size=8,
        patch_size=2,
        num_embeds_ada_norm=num_classes,
        norm_num_groups=4,
    ).eval()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the ``alternas`` entry point in-process: ``(exit code, stdout, stderr)``, each with its
    whitespace collapsed so that wrapped lines read as one."""
    from alternas.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["alternas", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
    out, err = capsys.readouterr()
    return exit_info.value.code, " ".join(out.split()), " ".join(err.split())


def cli_output(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Like :func:`run_cli`, with stdout and stderr together: ``(exit code, output)``."""
    code, out, err = run_cli(capsys, *args)
    return code, f"{out} {err}".strip()


BACKBONE_FACTORIES = {
    "unet_condition": tiny_unet_condition,
    "unet": tiny_unet,
    "dit": tiny_dit,
}


@pytest.fixture(params=sorted(BACKBONE_FACTORIES))
def backbone(request) -> torch.nn.Module:
    """Each tiny backbone kind in turn."""
    return BACKBONE_FACTORIES[request.param]()


@pytest.fixture(autouse=True, scope="session")
def hermetic_cache(tmp_path_factory) -> Path:
    """Point alternas' cache at a fresh folder (teachers, classifiers, references)."""
    root = tmp_path_factory.mktemp("alternas-cache")
    os.environ["ALTERNAS_CACHE"] = str(root)
    return root


#: a digits teacher that pretrains in seconds: tests check mechanics, not image quality
TINY_TEACHER = {"pretrain_steps": 60, "batch_size": 32}


@pytest.fixture(scope="session")
def tiny_digits_run_config() -> dict:
    """A RunConfig dict on the built-in digits with a seconds-long teacher and short training."""
    return {
        "model": {"backbone": "builtin:digits", "builtin": dict(TINY_TEACHER)},
        "experts": {"count": 2, "routing": "learned"},
        "budget": {"macs_share": 0.6},
        "train": {
            "steps": 6,
            "hypernet_steps": 4,
            "batch_size": 8,
            "log_every": 2,
            "checkpoint_every": 3,
            "warmup_steps": 2,
            "hypernet_warmup_steps": 2,
        },
        "eval": {"num_samples": 20, "batch_size": 20, "steps": 4, "latency_repeats": 1, "latency_batch_size": 4},
    }
