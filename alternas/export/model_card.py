"""The model card (``README.md``) of an export folder: what it is, the sampler and step count its routing
was searched for, and code that loads it the diffusers way and samples with exactly those."""

from __future__ import annotations

import inspect

from diffusers import DiffusionPipeline
from torch import nn

from ..macs import format_macs
from ..plan import ExpertPlan
from ..samplers import get_sampler
from .export_generation import condition_kind, default_conditions

__all__ = ["FOLDER_PLACEHOLDER", "model_card"]

#: what the model card's code loads from: the user puts the export's path (or hub id) there
FOLDER_PLACEHOLDER = "path/to/this/folder"
#: a diffusers pipeline each routed backbone class drops into
_DROP_IN = {
    "UNet2DConditionModel": "StableDiffusionPipeline",
    "UNet2DModel": "AlternasUnconditionalPipeline",  # DDPMPipeline mis-drives Euler, UniPC and the like
    "DiTTransformer2DModel": "DiTPipeline",
}
#: example prompts of a text-conditioned export's code
_PROMPTS = ["a photo of a cat", "a photo of a dog"]


def model_card(plan: ExpertPlan, component: str, pipeline: DiffusionPipeline | None, routed: nn.Module) -> str:
    """The ``README.md`` of an export folder.

    Args:
        plan: the exported experts and routing (its sampler, steps and guidance scale go into the code).
        component: the routed backbone's folder (``unet`` or ``transformer``).
        pipeline: the pipeline saved around the backbone, ``None`` when the export is the backbone alone.
        routed: the routed backbone.
    """
    base_class = plan.backbone["class_name"]
    routed_class = type(routed).__name__
    experts = len(plan.experts)
    sampler, scheduler_class, settings = _sampler(plan.sampler.scheduler)
    lines = [
        f"# ALTER experts ({base_class}, {experts} expert{'s' if experts != 1 else ''})",
        "",
        f"Routed {base_class} exported by alternas: one set of fine-tuned weights, {experts} temporal "
        f"expert(s) that each skip some units, routed by the timestep of every call. Generating one image costs "
        f"{format_macs(plan.macs.generation_total)}, the MACs of the dense model at {plan.dense_steps:.1f} steps "
        f"(the experts run {plan.macs.share:.3f} of a dense step at each step on average). `experts.yaml` lists "
        "every expert and the routing table.",
        "",
        f"Searched with the sampler {sampler} at **{plan.sampler.steps} steps**, guidance scale "
        f"{plan.guidance_scale:g}. The sampler's timesteps route the experts, so sample with that scheduler "
        f"and step count: other step counts work but visit timesteps the search did not score.",
        "",
        "## Load and generate",
        "",
        "Loading needs `alternas` installed: `import alternas` lets diffusers find the routed classes. "
        "Nothing is downloaded.",
        "",
    ]
    if pipeline is not None:
        lines += _pipeline_code(plan, pipeline, routed_class, component)
    else:
        lines += _backbone_code(plan, routed_class, component, scheduler_class, settings)
    lines += [
        "",
        f"`{component}/` holds a {routed_class}, a drop-in `{component}` for "
        f"`{_DROP_IN.get(base_class, 'its pipeline')}` and the like "
        f'(`alternas.export.{routed_class}.from_pretrained(EXPORT, subfolder="{component}")`). '
        f"Loading it as a plain `{base_class}` fails on purpose, since that class would ignore the routing and "
        f"run every layer: its `config.json` carries a `quantization_config` guard that only the routed class "
        "removes.",
        "",
    ]
    return "\n".join(lines)


def _sampler(name: str) -> tuple[str, str | None, dict]:
    """``(description, scheduler class, settings)`` of the sampler ``name`` (no class if it is unknown)."""
    try:
        sampler = get_sampler(name)
    except KeyError:  # a sampler this alternas does not offer
        return f"`{name}`", None, {}
    settings = dict(sampler.settings)
    given = "".join(f", {key}={value!r}" for key, value in settings.items())
    return f"`{name}` (`{sampler.scheduler_class}`{given})", sampler.scheduler_class, settings


def _call(plan: ExpertPlan, pipeline: DiffusionPipeline) -> str:
    """The keyword arguments of a pipeline call that samples like ``alternas generate``."""
    kind = condition_kind(pipeline)
    if kind == "prompt":
        request = f"prompt={_PROMPTS!r}"
    elif kind == "unconditional":
        request = "batch_size=4"
    else:
        request = f"class_labels={default_conditions(pipeline, 4)!r}"
    request += f", num_inference_steps={plan.sampler.steps}"
    if kind != "unconditional" and "guidance_scale" in inspect.signature(pipeline.__call__).parameters:
        request += f", guidance_scale={plan.guidance_scale!r}"
    return request + ", generator=generator"


def _pipeline_code(plan: ExpertPlan, pipeline: DiffusionPipeline, routed_class: str, component: str) -> list[str]:
    return [
        "```python",
        "import alternas  # lets diffusers find the routed classes",
        "import torch",
        "from diffusers import DiffusionPipeline",
        "",
        f'EXPORT = "{FOLDER_PLACEHOLDER}"  # this folder: where you keep it',
        f"pipe = DiffusionPipeline.from_pretrained(EXPORT)  # {type(pipeline).__name__}, "
        f"{component}: {routed_class}",
        "# (alternas.load_experts(EXPORT) loads the same pipeline, checking the folder first)",
        "generator = torch.Generator().manual_seed(0)",
        f"images = pipe({_call(plan, pipeline)}).images",
        "```",
        "",
        "The pipeline's scheduler is the searched sampler. From the command line, with the searched steps and "
        "guidance scale:",
        "",
        "```",
        f"alternas generate {FOLDER_PLACEHOLDER} --out samples.png",
        "```",
    ]


def _backbone_code(
    plan: ExpertPlan, routed_class: str, component: str, scheduler_class: str | None, settings: dict
) -> list[str]:
    given = "".join(f", {key}={value!r}" for key, value in settings.items())
    scheduler = (
        [f"pipe.scheduler = {scheduler_class}.from_config(pipe.scheduler.config{given})"]
        if scheduler_class is not None
        else [f"# pipe.scheduler = <the `{plan.sampler.scheduler}` scheduler>"]
    )
    imports = f"from diffusers import DiffusionPipeline{', ' + scheduler_class if scheduler_class else ''}"
    guidance = f", guidance_scale={plan.guidance_scale!r}" if plan.guidance_scale != 1.0 else ""
    unconditional = (  # DDPMPipeline applies no `scale_model_input`: Euler and the like sample wrong in it
        [
            "# an unconditional UNet2DModel samples right with every scheduler in alternas' pipeline:",
            "# pipe = alternas.export.AlternasUnconditionalPipeline(unet=model, scheduler=pipe.scheduler)",
        ]
        if routed_class == "RoutedUNet2DModel"
        else []
    )
    return [
        "```python",
        "import alternas",
        f"from alternas.export import {routed_class}",
        imports,
        "",
        f'EXPORT = "{FOLDER_PLACEHOLDER}"  # this folder: where you keep it',
        f'model = {routed_class}.from_pretrained(EXPORT, subfolder="{component}")',
        "# (alternas.load_experts(EXPORT) loads the same model, checking the folder first)",
        f"# the `{component}` of the diffusers pipeline it came from, with the searched sampler and steps:",
        f'pipe = DiffusionPipeline.from_pretrained("<that pipeline>", {component}=model)',
        *scheduler,
        *unconditional,
        f"# images = pipe(<its inputs>, num_inference_steps={plan.sampler.steps}{guidance}).images",
        "```",
    ]
