"""``alternas train CONFIG``: one ALTER training + evaluation from a run config (no search)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ._app import app, console, setup_logging


@app.command()
def train(
    config_file: Path = typer.Argument(..., help="YAML run config (model/data/units/experts/budget/train/eval)"),
    out: Path = typer.Option(..., "--out", "-o", help="run directory (resumes if it holds checkpoints)"),
    no_eval: bool = typer.Option(False, "--no-eval", help="train only, skip sampling and metrics"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Train one ALTER model, evaluate it beside the dense teacher, and write OUT."""
    setup_logging(verbose)
    from ..api import train_alter
    from ..config import RunConfig
    from ..recipe.recipe_loading import read_yaml
    from ..trainer import TrainerCallback
    from .._validation import validate_config

    data = read_yaml(config_file, "run config")
    config = validate_config(RunConfig, data, config_file)

    class _Progress(TrainerCallback):
        def on_step(self, trainer: Any, step: int, metrics: dict[str, float], **info: Any) -> None:
            console.print(
                f"step {step}/{trainer.total_steps}  loss {metrics.get('loss_backbone', float('nan')):.4f}  "
                f"MACs share {metrics['macs_share_hard']:.3f}  experts {int(metrics['experts_in_use'])}",
                highlight=False,
            )

    result = train_alter(config, run_dir=out, callbacks=[_Progress()], evaluate=not no_eval)
    console.print_json(json.dumps(result.metrics.values(), default=str))
    console.print(f"wrote {out}/plan.yaml")

