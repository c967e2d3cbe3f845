"""``alternas export RUN_DIR --out DIR``: the winning (or a chosen) trial as a diffusers-loadable model."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, setup_logging, styled


@app.command()
def export(
    run_dir: Path = typer.Argument(
        ..., help="search run directory, or the output folder of `alternas train`"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="export folder to create"),
    trial: str | None = typer.Option(
        None, "--trial", "-t", help="trial id to export (default: the report's winner)"
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="replace OUT if it holds an earlier export (never another folder)"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Write the expert config, fine-tuned weights and a routed runtime for one trial into OUT."""
    setup_logging(verbose)
    from ..export import export_experts
    from ..macs import format_macs

    result = export_experts(run_dir, out, trial_id=trial, overwrite=overwrite)
    plan = result.plan
    console.print(
        styled("exported", "bold", f"{'trial ' + result.trial_id if result.trial_id else run_dir}: {result.reason}")
    )
    console.print(
        f"{len(plan.experts)} expert(s), {plan.sampler.scheduler} {plan.sampler.steps} steps, "
        f"{format_macs(plan.macs.generation_total)} per image = {plan.dense_steps:.1f} dense steps "
        f"({plan.macs.share:.2f} of a dense step at each step)",
        highlight=False,
    )
    layout = f"{result.component}/ (routed {plan.backbone['class_name']})"
    if result.pipeline:
        layout += f", {result.pipeline} (model_index.json)"
    console.print(f"wrote {out}: experts.yaml, {layout}, README.md")
    console.print(f"try it: alternas generate {out} --out samples.png", highlight=False)
