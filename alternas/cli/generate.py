"""``alternas generate DIR``: sample images from an exported model."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, setup_logging


@app.command()
def generate(
    export_dir: Path = typer.Argument(..., help="export folder written by `alternas export`"),
    out: Path = typer.Option(
        Path("samples.png"), "--out", "-o", help="grid PNG (*.png) or a folder for one PNG per image"
    ),
    num_images: int | None = typer.Option(
        None, "--num-images", "-n", min=1, help="images (default: 16, or one per label/prompt)"
    ),
    label: list[str] = typer.Option(
        [], "--label", "-l", help="class label(s), repeatable or comma-separated; cycled to -n"
    ),
    prompt: list[str] = typer.Option(
        [], "--prompt", "-p", help="prompt(s) for text-conditioned exports; repeatable"
    ),
    steps: int | None = typer.Option(
        None, "--steps", min=1, help="sampler steps (default: the steps the routing was searched for)"
    ),
    guidance_scale: float | None = typer.Option(
        None, "--guidance-scale", help="classifier-free guidance (default: as evaluated)"
    ),
    seed: int = typer.Option(0, "--seed", help="noise seed (same seed and batch size = same images)"),
    batch_size: int = typer.Option(16, "--batch-size", "-b", min=1, help="images per pipeline call"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N"),
    scale: int | None = typer.Option(
        None, "--scale", min=1, help="integer upscaling of each image (default: to >= 64 px)"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Generate images with an exported ALTER model."""
    setup_logging(verbose)
    import time

    from ..exceptions import ConfigError
    from ..export import (
        check_images_target,
        condition_kind,
        default_conditions,
        generate_images,
        load_experts,
        read_expert_config,
        save_images,
    )
    from ..runtime import resolve_device

    if label and prompt:
        raise ConfigError("pass either --label or --prompt, not both")
    check_images_target(out)  # before minutes of sampling
    plan = read_expert_config(export_dir)
    pipeline = load_experts(export_dir, device=resolve_device(device))
    if not hasattr(pipeline, "components"):
        raise ConfigError(
            f"`{export_dir}` holds a routed backbone without a pipeline; load it into its diffusers pipeline "
            "as shown in its README.md"
        )
    given: list[str] = [part.strip() for item in label for part in item.split(",") if part.strip()] + list(
        prompt
    )
    unconditional = condition_kind(pipeline) == "unconditional"
    count = num_images or (len(given) if given else 16)
    conditions = (
        [given[i % len(given)] for i in range(count)] if given else default_conditions(pipeline, count)
    )
    started = time.perf_counter()
    images = generate_images(
        pipeline,
        conditions,
        steps=steps or plan.sampler.steps,
        guidance_scale=(
            guidance_scale
            if guidance_scale is not None
            else 1.0 if unconditional else plan.guidance_scale
        ),
        seed=seed,
        batch_size=batch_size,
    )
    seconds = time.perf_counter() - started
    paths = save_images(images, conditions, out, scale=scale or max(1, 64 // images.shape[-1]))
    where = paths[0] if len(paths) == 1 else f"{out}/ ({len(paths)} files)"
    console.print(f"generated {len(images)} images in {seconds:.2f} s -> {where}", highlight=False)
