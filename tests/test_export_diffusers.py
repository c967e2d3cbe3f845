"""Exports load the diffusers way: ``DiffusionPipeline.from_pretrained(export)`` after ``import alternas``
gives the routed pipeline with the searched sampler, for every kind of export; the model card's code runs
and samples what ``alternas generate`` samples; a plain diffusers class refuses a routed backbone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import (
    DDPMPipeline,
    DDPMScheduler,
    DiffusionPipeline,
    DiTTransformer2DModel,
    UNet2DConditionModel,
    UNet2DModel,
)

from alternas.backbones import adapter_for
from alternas.config import RunConfig
from alternas.export import (
    ROUTED_CLASSES,
    export_plan,
    generate_images,
    load_experts,
    plan_from_masks,
    read_expert_config,
)
from alternas.routing import manual_assignment
from alternas.samplers import get_sampler

from ._tiny_pipelines import TEXT_LENGTH, save_dit_pipeline, save_sd_pipeline, tiny_dit_config, tiny_sd_unet
from .conftest import SCHEDULE

#: export kind -> (searched sampler, the conditions the model card's code samples)
KINDS = {
    "digits": ("dpmpp_2m", [0, 1, 2, 3]),
    "stable_diffusion": ("euler", ["a photo of a cat", "a photo of a dog"]),
    "dit": ("unipc", [0, 1, 2, 3]),
    "ddpm": ("ddim_trailing", [None] * 4),
}
STEPS = 3


def _keep(backbone: torch.nn.Module) -> torch.Tensor:
    """Two experts, ``(2, N_L)``: expert 1 (t >= 500) skips every other unit."""
    keep = torch.ones(2, len(adapter_for(backbone).discover_units()))
    keep[1, ::2] = 0
    return keep


def _base_and_backbone(kind: str, root: Path) -> tuple[RunConfig, torch.nn.Module, dict]:
    """``(run config, fine-tuned backbone, training schedule)`` of each export kind."""
    if kind == "digits":
        from alternas.sources import load_bundle

        config = RunConfig.model_validate({"model": {"backbone": "builtin:digits"}})  # shipped weights
        bundle = load_bundle(config.model)
        return config, bundle.backbone, bundle.scheduler_config
    if kind == "stable_diffusion":
        base, backbone = save_sd_pipeline(root / "base"), tiny_sd_unet()
    elif kind == "dit":
        base = save_dit_pipeline(root / "base")
        torch.manual_seed(2)  # other weights than the base pipeline's
        backbone = DiTTransformer2DModel(**tiny_dit_config())
    else:
        torch.manual_seed(0)
        backbone = UNet2DModel(
            sample_size=8, in_channels=3, out_channels=3, block_out_channels=(16, 32),
            down_block_types=("AttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "AttnUpBlock2D"),
            layers_per_block=1, attention_head_dim=8, norm_num_groups=8,
        )
        base = root / "base"
        DDPMPipeline(unet=backbone, scheduler=DDPMScheduler(**SCHEDULE)).save_pretrained(base)
    return RunConfig.model_validate({"model": {"backbone": str(base)}}), backbone.eval(), SCHEDULE


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """``exports(kind)`` -> ``(export folder, fine-tuned dense backbone)``, each exported once."""
    made: dict[str, tuple[Path, torch.nn.Module]] = {}

    def export(kind: str) -> tuple[Path, torch.nn.Module]:
        if kind not in made:
            root = tmp_path_factory.mktemp(kind)
            config, backbone, schedule = _base_and_backbone(kind, root)
            backbone.save_pretrained(root / "finetuned")
            plan = plan_from_masks(
                backbone,
                _keep(backbone),
                manual_assignment(2, 1000),
                scheduler_config=schedule,
                scheduler=KINDS[kind][0],
                steps=STEPS,
                condition_length=TEXT_LENGTH if kind == "stable_diffusion" else 1,
            )
            export_plan(plan, root / "finetuned", config, root / "export")
            made[kind] = root / "export", backbone
        return made[kind]

    return export


def card_code(export: Path) -> str:
    """The Python code of ``export``'s model card, loading from ``export``."""
    text = (export / "README.md").read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0].replace("path/to/this/folder", str(export))


def as_uint8(images: torch.Tensor) -> np.ndarray:
    """``(N, C, H, W)`` images in ``[0, 1]`` as the ``(N, H, W, C)`` bytes a PIL image holds."""
    return (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


def pil_bytes(images) -> np.ndarray:
    return np.stack([np.asarray(image).reshape(image.size[1], image.size[0], -1) for image in images])


def component_of(pipeline: DiffusionPipeline) -> str:
    return "transformer" if hasattr(pipeline, "transformer") else "unet"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_model_card_code_loads_the_routed_pipeline_with_diffusers_and_samples_like_alternas_generate(
    kind, exports
):
    export, dense = exports(kind)
    plan = read_expert_config(export)
    code = card_code(export)
    assert "DiffusionPipeline.from_pretrained(EXPORT)" in code and f"num_inference_steps={STEPS}" in code
    namespace: dict = {}
    exec(compile(code, str(export / "README.md"), "exec"), namespace)
    pipe = namespace["pipe"]

    routed = getattr(pipe, component_of(pipe))
    assert type(routed) is ROUTED_CLASSES[plan.backbone["class_name"]] and routed.num_experts == 2
    sampler = get_sampler(KINDS[kind][0])
    assert type(pipe.scheduler).__name__ == sampler.scheduler_class
    assert {key: pipe.scheduler.config[key] for key in sampler.settings} == dict(sampler.settings)

    conditions = KINDS[kind][1]
    expected = generate_images(
        load_experts(export), conditions, steps=STEPS, guidance_scale=1.0, seed=0, batch_size=len(conditions)
    )
    assert np.array_equal(pil_bytes(namespace["images"]), as_uint8(expected))

    # routed, not dense: the fine-tuned weights run dense sample other images from the same noise
    dense_pipe = DiffusionPipeline.from_pretrained(export, **{component_of(pipe): dense})
    dense_images = generate_images(
        dense_pipe, conditions, steps=STEPS, guidance_scale=1.0, seed=0, batch_size=len(conditions)
    )
    assert (dense_images - expected).abs().max() > 1e-3


PLAIN_CLASSES = {"digits": UNet2DConditionModel, "stable_diffusion": UNet2DConditionModel,
                 "dit": DiTTransformer2DModel, "ddpm": UNet2DModel}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_plain_diffusers_class_refuses_the_routed_backbone_and_says_how_to_load_it(kind, exports):
    export, dense = exports(kind)
    plain = PLAIN_CLASSES[kind]
    component = "transformer" if kind == "dit" else "unet"
    routed_class = ROUTED_CLASSES[plain.__name__]
    with pytest.raises(ValueError, match=rf"alternas {routed_class.__name__}.*would ignore") as error:
        plain.from_pretrained(export, subfolder=component)
    assert "DiffusionPipeline.from_pretrained(<export folder>)" in str(error.value)

    routed = routed_class.from_pretrained(export, subfolder=component)  # the routed class loads it
    assert routed.num_experts == 2 and "quantization_config" not in routed.config
    for name, tensor in dense.state_dict().items():  # the weights are the plain backbone's
        assert torch.equal(routed.state_dict()[name], tensor), name

    saved = json.loads((export / component / "config.json").read_text())
    assert saved["_class_name"] == routed_class.__name__ and saved["expert_keep"] == _keep(dense).int().tolist()


FRESH_PROCESS = textwrap.dedent("""
    import sys
    first, out_file, exports = sys.argv[1], sys.argv[2], sys.argv[3:]
    if first == "alternas":
        import alternas
        assert not {"torch", "diffusers"} & set(sys.modules), "import alternas stays light"
        from diffusers import DiffusionPipeline
    else:
        from diffusers import DiffusionPipeline
        import alternas
    import torch
    from alternas.export import generate_images, read_expert_config  # only to drive the pipelines
    results = {}
    for export, conditions in zip(exports[::2], exports[1::2]):
        pipe = DiffusionPipeline.from_pretrained(export)
        backbone = getattr(pipe, "transformer", None) or pipe.unet
        steps = read_expert_config(export).sampler.steps
        images = generate_images(pipe, eval(conditions), steps=steps, guidance_scale=1.0, seed=5, batch_size=4)
        results[export] = (type(pipe).__name__, type(backbone).__name__, images)
    torch.save(results, out_file)
    """)


@pytest.mark.parametrize("first", ["alternas", "diffusers"])
def test_import_alternas_is_all_diffusers_needs_in_a_fresh_process(first, exports, tmp_path):
    """Whether ``import alternas`` comes before or after diffusers, ``DiffusionPipeline.from_pretrained``
    finds the export's classes; ``import alternas`` itself imports neither torch nor diffusers."""
    folders = {kind: exports(kind)[0] for kind in KINDS}
    args = [item for kind, folder in folders.items() for item in (str(folder), repr(KINDS[kind][1]))]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, first, str(tmp_path / "out.pt"), *args],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    fresh = torch.load(tmp_path / "out.pt")
    for kind, folder in folders.items():
        pipeline_name, backbone_name, images = fresh[str(folder)]
        loaded = load_experts(folder)
        assert pipeline_name == type(loaded).__name__ and backbone_name.startswith("Routed"), kind
        conditions = KINDS[kind][1]
        expected = generate_images(loaded, conditions, steps=STEPS, guidance_scale=1.0, seed=5, batch_size=4)
        # the fresh process runs one thread: float sums in another order, a few ulps apart
        torch.testing.assert_close(images, expected, rtol=0, atol=1e-5, msg=kind)


def test_a_bare_backbone_model_card_loads_the_routed_class_with_the_searched_sampler(tmp_path):
    from .conftest import tiny_unet

    backbone = tiny_unet()
    backbone.save_pretrained(tmp_path / "backbone")
    plan = plan_from_masks(
        backbone, _keep(backbone), manual_assignment(2, 1000), scheduler_config=SCHEDULE, scheduler="euler",
        steps=7,
    )
    config = RunConfig.model_validate({"model": {"backbone": str(tmp_path / "backbone")}})
    export_plan(plan, tmp_path / "backbone", config, tmp_path / "export")
    code = card_code(tmp_path / "export")
    assert 'model = RoutedUNet2DModel.from_pretrained(EXPORT, subfolder="unet")' in code
    scheduler = "EulerDiscreteScheduler.from_config(pipe.scheduler.config, timestep_spacing='leading')"
    assert f"pipe.scheduler = {scheduler}" in code
    assert "num_inference_steps=7" in code
    loading = code.split("# the `unet`")[0]  # up to the user's own pipeline
    namespace: dict = {}
    exec(compile(loading, "README.md", "exec"), namespace)
    assert type(namespace["model"]).__name__ == "RoutedUNet2DModel" and namespace["model"].num_experts == 2


def test_the_digits_pipeline_draws_an_ancestral_samplers_noise_from_the_callers_generator(exports):
    import alternas  # noqa: F401

    export, _ = exports("digits")
    pipe = DiffusionPipeline.from_pretrained(export)
    pipe.scheduler = get_sampler("ddpm").make(pipe.scheduler.config)  # a fresh noise draw at every step

    def sample(seed: int) -> torch.Tensor:
        torch.manual_seed(1000 + seed)  # the global generator differs between calls: only `generator` may decide
        generator = torch.Generator().manual_seed(0)
        return pipe(class_labels=[0, 1, 2, 3], num_inference_steps=STEPS, generator=generator, output_type="pt").images

    assert torch.equal(sample(1), sample(2))
