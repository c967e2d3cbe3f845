"""Generate images with an exported pipeline, in batches, and save them as a grid or a folder."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from diffusers import DiffusionPipeline

from .._atomic import atomic_path
from ..exceptions import ConfigError
from ..images import image_grid, save_image_grid

__all__ = ["check_images_target", "condition_kind", "default_conditions", "generate_images", "save_images"]


ConditionKind = Literal["class_labels", "prompt", "unconditional"]


def condition_kind(pipeline: DiffusionPipeline) -> ConditionKind:
    """How ``pipeline`` is conditioned, read from its ``__call__``: ``"class_labels"``, ``"prompt"``, or
    ``"unconditional"`` for pipelines that only take a ``batch_size`` (``DDPMPipeline``, ``DDIMPipeline``).

    Raises:
        ConfigError: the pipeline takes none of these.
    """
    parameters = inspect.signature(pipeline.__call__).parameters
    for kind in ("class_labels", "prompt"):
        if kind in parameters:
            return kind
    if "batch_size" in parameters:
        return "unconditional"
    raise ConfigError(
        f"`{type(pipeline).__name__}` takes neither class labels, prompts nor a batch size; "
        "alternas cannot drive it"
    )


def default_conditions(pipeline: DiffusionPipeline, count: int) -> list[int | None]:
    """``count`` class labels cycling through every class, or ``count`` times ``None`` for an
    unconditional pipeline.

    Raises:
        ConfigError: the pipeline is text-conditioned (prompts must be given).
    """
    kind = condition_kind(pipeline)
    if kind == "prompt":
        raise ConfigError("this export is text-conditioned: pass at least one --prompt")
    if kind == "unconditional":
        return [None] * count
    classes = getattr(pipeline, "num_classes", None)
    if (
        classes is None
    ):  # DiTPipeline: the transformer's class-embedding table (the last row is the null class)
        classes = int(pipeline.transformer.config.num_embeds_ada_norm)
    return [i % classes for i in range(count)]


def generate_images(
    pipeline: DiffusionPipeline,
    conditions: Sequence[int | str | None],
    *,
    steps: int,
    guidance_scale: float,
    seed: int = 0,
    batch_size: int = 16,
) -> torch.Tensor:
    """One image per condition, generated ``batch_size`` at a time.

    Args:
        pipeline: an exported pipeline (see :func:`~alternas.export.load_experts`).
        conditions: class labels (class-conditional pipelines), prompts (text-conditioned ones) or
            one ``None`` per image (unconditional ones).
        steps: sampler steps.
        guidance_scale: classifier-free guidance (1 = off).
        seed: seed of the initial noise; the same seed and batch size give the same images.
        batch_size: images per pipeline call.

    Returns:
        `torch.Tensor` of shape `(N, C, H, W)`, float in ``[0, 1]``, on the CPU.

    Raises:
        ConfigError: a condition does not fit the pipeline (e.g. a label out of range).
    """
    kind = condition_kind(pipeline)
    if kind == "unconditional":
        if any(c is not None for c in conditions):
            raise ConfigError(
                f"this export is unconditional (`{type(pipeline).__name__}`); drop --label and --prompt"
            )
    elif kind == "class_labels":
        try:
            conditions = [int(c) for c in conditions]
        except ValueError as error:
            raise ConfigError(
                f"this export is class-conditional; labels must be integers, got {list(conditions)}"
            ) from error
    else:
        conditions = [str(c) for c in conditions]
    takes_guidance = "guidance_scale" in inspect.signature(pipeline.__call__).parameters
    if not takes_guidance and guidance_scale != 1.0:
        raise ConfigError(
            f"`{type(pipeline).__name__}` has no classifier-free guidance; drop --guidance-scale {guidance_scale}"
        )
    generator = torch.Generator("cpu").manual_seed(seed)
    batches = []
    for start in range(0, len(conditions), batch_size):
        chunk = conditions[start : start + batch_size]
        request = {"batch_size": len(chunk)} if kind == "unconditional" else {kind: chunk}
        if takes_guidance:
            request["guidance_scale"] = guidance_scale
        try:
            output = pipeline(
                **request,
                num_inference_steps=steps,
                generator=generator,
                output_type="np",
            )
        except ValueError as error:  # diffusers pipelines report bad inputs as ValueError
            raise ConfigError(f"the pipeline rejected the request: {error}") from error
        images = torch.from_numpy(np.asarray(output.images, dtype=np.float32))  # (B, H, W, C)
        batches.append(images.permute(0, 3, 1, 2))
    return torch.cat(batches).clamp(0, 1)


def check_images_target(out: str | Path) -> Path:
    """``out`` as :func:`save_images` will use it: a grid file ending in ``.png``, or a folder.

    Raises:
        ConfigError: ``out`` names an existing file that is not a ``.png`` grid, or a folder named
            ``*.png``, or lies under a file.
    """
    out = Path(out)
    grid = out.suffix.lower() == ".png"
    if grid and out.is_dir():
        raise ConfigError(f"--out `{out}` is a folder; give a new file name ending in .png for a grid")
    if not grid and out.exists() and not out.is_dir():
        raise ConfigError(
            f"--out `{out}` is an existing file; give a name ending in .png for a grid, or a folder for one PNG "
            "per image"
        )
    blocking = next((parent for parent in out.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise ConfigError(f"--out `{out}` lies under `{blocking}`, which is a file; choose another path")
    return out


def save_images(
    images: torch.Tensor, conditions: Sequence[int | str | None], out: str | Path, scale: int = 1
) -> list[Path]:
    """Save ``images`` (``[0, 1]``, ``(N, C, H, W)``) as one grid (``out`` ends in ``.png``) or a folder.

    Args:
        images: the images.
        conditions: the label or prompt of each image (used in the file names of a folder), ``None``
            for an unconditional image.
        out: ``grid.png`` for one grid, any other path for a folder of ``0000-<condition>.png`` files.
        scale: integer nearest-neighbour upscaling (tiny digits are 8 px).
    """
    out = check_images_target(out)
    if out.suffix.lower() == ".png":
        columns = int(np.ceil(np.sqrt(len(images))))
        return [save_image_grid(images, out, columns=columns, scale=scale)]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (image, condition) in enumerate(zip(images, conditions)):
        picture = image_grid(image[None], columns=1, scale=scale, padding=0)
        label = "" if condition is None else str(condition)
        name = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:40] or "image"
        path = out / f"{index:04d}-{name}.png"
        with atomic_path(path) as partial:  # a crash never leaves a truncated PNG under the final name
            picture.save(partial, format="PNG")
        paths.append(path)
    return paths
