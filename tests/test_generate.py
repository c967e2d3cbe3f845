"""``AlternasDigitsPipeline`` and ``alternas generate``: the same sampler as evaluation, grids, folders, errors."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler
from PIL import Image

from alternas.backbones import adapter_for
from alternas.evaluation import dense_predictor, generate, make_scheduler
from alternas.export import AlternasDigitsPipeline, plan_from_masks
from alternas.routing import manual_assignment
from alternas.zoo.digits import DigitsLabelEncoder, LabelTokenConditioner

from .conftest import SCHEDULE, cli_output, tiny_unet_condition



def digits_pipeline() -> AlternasDigitsPipeline:
    """A random-weight digits pipeline with the dense tiny UNet (cross-attention width 32)."""
    torch.manual_seed(0)
    return AlternasDigitsPipeline(
        unet=tiny_unet_condition(),
        label_encoder=DigitsLabelEncoder(embedding_dim=32).eval(),
        scheduler=make_scheduler("ddim", SCHEDULE),
        default_num_inference_steps=4,
    )


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """A hand-made export folder: the digits pipeline and an expert config, as `alternas export` lays it out."""
    directory = tmp_path_factory.mktemp("export")
    pipeline = digits_pipeline()
    pipeline.save_pretrained(directory)
    keep = torch.ones(2, 16)
    keep[1, ::2] = 0
    plan = plan_from_masks(
        pipeline.unet, keep, manual_assignment(2, 1000), scheduler_config=SCHEDULE, steps=4
    )
    plan.save(directory / "experts.yaml")
    return directory


@pytest.mark.parametrize("guidance_scale", [1.0, 2.5])
def test_pipeline_samples_exactly_like_the_evaluation_sampler(guidance_scale):
    pipeline = digits_pipeline()
    labels = [0, 3, 7]
    noise = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    images = pipeline(
        class_labels=labels, latents=noise, guidance_scale=guidance_scale, output_type="pt"
    ).images
    expected = generate(
        dense_predictor(adapter_for(pipeline.unet)),
        scheduler_name="ddim",
        train_scheduler_config=SCHEDULE,
        steps=4,
        noise=noise,
        conditions=labels,
        conditioner=LabelTokenConditioner(pipeline.label_encoder),
        guidance_scale=guidance_scale,
        batch_size=3,
    )
    assert torch.equal(images, expected)
    assert isinstance(pipeline.scheduler, DDIMScheduler)
    pil = pipeline(class_labels=5, generator=torch.Generator().manual_seed(0)).images
    assert len(pil) == 1 and pil[0].size == (8, 8)


def test_generate_writes_a_grid_or_a_folder_reproducibly(export_dir, tmp_path, capsys):
    six = ["generate", str(export_dir), "-n", "6"]
    code, out = cli_output(capsys, *six, "-l", "1,2", "--out", str(tmp_path / "a.png"), "--device", "cpu")
    assert code == 0, out
    assert "generated 6 images" in out
    with Image.open(tmp_path / "a.png") as grid:
        assert grid.size == (3 * 9 * 8 + 8, 2 * 9 * 8 + 8)  # 3 x 2 tiles of 8 px, 1 px padding, scaled x8
    cli_output(capsys, *six, "-l", "1", "-l", "2", "--out", str(tmp_path / "b.png"))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    cli_output(capsys, *six, "-l", "1,2", "--seed", "1", "--out", str(tmp_path / "c.png"))
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "c.png").read_bytes()

    code, out = cli_output(
        capsys,
        "generate",
        str(export_dir),
        "-n",
        "3",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--scale",
        "1",
        "--out",
        str(tmp_path / "folder"),
    )
    assert code == 0, out
    files = sorted(p.name for p in (tmp_path / "folder").iterdir())
    assert files == ["0000-0.png", "0001-1.png", "0002-2.png"]
    with Image.open(tmp_path / "folder" / files[0]) as image:
        assert image.size == (8, 8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-l", "12"], "digits in 0..9, got [12]"),
        (["-p", "a cat"], "labels must be integers"),
        (["-l", "1", "-p", "a cat"], "either --label or --prompt"),
    ],
)
def test_generate_rejects_bad_requests_with_exit_2(export_dir, tmp_path, capsys, args, message):
    code, out = cli_output(capsys, "generate", str(export_dir), *args, "--out", str(tmp_path / "x.png"))
    assert code == 2 and message in out and "Traceback" not in out


def test_generate_out_an_existing_file_that_is_no_png_exits_2(export_dir, tmp_path, capsys):
    existing = tmp_path / "notes"
    existing.write_text("keep me")
    code, out = cli_output(capsys, "generate", str(export_dir), "-n", "4", "--out", str(existing))
    assert code == 2 and "is an existing file" in out and "Traceback" not in out
    assert existing.read_text() == "keep me"
    code, out = cli_output(capsys, "generate", str(export_dir), "-n", "4", "--out", str(existing / "grid.png"))
    assert code == 2 and "which is a file" in out


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda index: index.update(_class_name=3), "`_class_name` holds an integer, expected a string"),
        (lambda index: index.update(unet=7), "component `unet` holds an integer"),
        (lambda index: index.update({"scheduler": ["diffusers", 4]}), "component `scheduler`"),
        (None, "holds a pipeline (label_encoder, scheduler, unet) but no `model_index.json`"),
    ],
)
def test_a_damaged_model_index_is_named_with_exit_2(export_dir, tmp_path, capsys, damage, message):
    import json
    import shutil

    damaged = tmp_path / "export"
    shutil.copytree(export_dir, damaged)
    index_file = damaged / "model_index.json"
    if damage is None:
        index_file.unlink()
    else:
        index = json.loads(index_file.read_text())
        damage(index)
        index_file.write_text(json.dumps(index))
    code, out = cli_output(capsys, "generate", str(damaged), "-n", "2", "--out", str(tmp_path / "x.png"))
    assert code == 2 and message in out and "Traceback" not in out, out


def test_generate_on_a_folder_that_is_not_an_export_exits_2(tmp_path, capsys):
    code, out = cli_output(capsys, "generate", str(tmp_path))
    assert code == 2 and "is not an alternas export" in out


def test_generate_with_prompts_from_an_exported_stable_diffusion_pipeline(tmp_path, capsys):
    """A backbone taken from a Stable Diffusion pipeline folder exports as that pipeline with the
    routed UNet, and `alternas generate` drives it with prompts."""
    import json

    from alternas.config import RunConfig
    from alternas.export import export_plan, load_experts

    from ._tiny_pipelines import TEXT_LENGTH, save_sd_pipeline, tiny_sd_unet

    base = save_sd_pipeline(tmp_path / "sd")
    unet = tiny_sd_unet()
    unet.save_pretrained(tmp_path / "finetuned")
    keep = torch.ones(2, len(adapter_for(unet).discover_units()))
    keep[0, ::2] = 0
    plan = plan_from_masks(
        unet, keep, manual_assignment(2, 1000), scheduler_config=SCHEDULE, steps=3, condition_length=TEXT_LENGTH
    )
    config = RunConfig.model_validate({"model": {"backbone": str(base)}})
    export_plan(plan, tmp_path / "finetuned", config, tmp_path / "export")
    index = json.loads((tmp_path / "export" / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["unet"] == ["alternas.export.modeling", "RoutedUNet2DConditionModel"]
    assert load_experts(tmp_path / "export").scheduler.config.prediction_type == "v_prediction"

    out = tmp_path / "sd.png"
    prompts = ["-p", "a red cat", "-p", "a dog"]
    code, text = cli_output(capsys, "generate", str(tmp_path / "export"), *prompts, "--out", str(out))
    assert code == 0, text
    with Image.open(out) as grid:
        assert grid.size == (2 * 65 + 1, 65 + 1)  # two 64 px images side by side
    code, text = cli_output(capsys, "generate", str(tmp_path / "export"), "--out", str(out))
    assert code == 2 and "pass at least one --prompt" in text


def test_generate_from_an_exported_unconditional_ddpm_pipeline(tmp_path, capsys):
    """A plain diffusers `DDPMPipeline` (unconditional `UNet2DModel`) exports as an alternas
    `AlternasUnconditionalPipeline` with the routed UNet, and `alternas generate` samples it without labels
    or prompts."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    from alternas.config import RunConfig
    from alternas.export import export_plan, load_experts

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, block_out_channels=(16, 32),
        down_block_types=("AttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "AttnUpBlock2D"),
        layers_per_block=1, attention_head_dim=8, norm_num_groups=8,
    ).eval()
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(**SCHEDULE)).save_pretrained(tmp_path / "ddpm")
    unet.save_pretrained(tmp_path / "finetuned")
    keep = torch.ones(2, len(adapter_for(unet).discover_units()))
    keep[1, ::2] = 0
    plan = plan_from_masks(unet, keep, manual_assignment(2, 1000), scheduler_config=SCHEDULE, steps=3)
    config = RunConfig.model_validate({"model": {"backbone": str(tmp_path / "ddpm")}})
    export_plan(plan, tmp_path / "finetuned", config, tmp_path / "export")
    assert type(load_experts(tmp_path / "export")).__name__ == "AlternasUnconditionalPipeline"

    out = tmp_path / "samples"
    code, text = cli_output(capsys, "generate", str(tmp_path / "export"), "-n", "3", "--out", str(out))
    assert code == 0, text
    files = sorted(path.name for path in out.iterdir())
    assert files == ["0000-image.png", "0001-image.png", "0002-image.png"]
    with Image.open(out / files[0]) as picture:
        assert picture.size == (64, 64)  # 8 px upscaled to >= 64 px
        assert any(low < high for low, high in picture.getextrema())  # not a blank image
    for args, message in [(("--label", "3"), "this export is unconditional"),
                          (("--guidance-scale", "2"), "has no classifier-free guidance")]:
        code, text = cli_output(capsys, "generate", str(tmp_path / "export"), *args, "--out", str(out))
        assert code == 2 and message in text, text


def test_a_crash_while_saving_a_folder_leaves_only_whole_images(tmp_path, monkeypatch):
    """Each image of a folder is written under a temporary name and renamed: no truncated PNG remains."""
    from pathlib import Path

    from alternas.exceptions import StorageError
    from alternas.export import save_images

    original = Image.Image.save
    saved = []

    def save_then_fail(self, fp, *args, **kwargs):
        if saved:  # the second image: a few bytes reach the disk, then the write fails
            Path(fp).write_bytes(b"\x89PNG\r\n")
            raise OSError("disk full")
        saved.append(fp)
        original(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_then_fail)
    with pytest.raises(StorageError, match="0001-1.png.*disk full"):
        save_images(torch.rand(3, 1, 8, 8), [0, 1, 2], tmp_path / "folder")
    monkeypatch.undo()
    assert sorted(path.name for path in (tmp_path / "folder").iterdir()) == ["0000-0.png"]
    assert Image.open(tmp_path / "folder" / "0000-0.png").size == (8, 8)
