"""Experiment tracking of trials through Ray Tune's own logger callbacks (``search.tracking``).

``tensorboard`` writes each trial's reported results (training progress every ``train.log_every``
iterations, then the objectives) as TensorBoard event files into the trial's Tune folder under
``<run dir>/ray/`` (``tensorboard --logdir reports/<name>/ray``); ``mlflow`` logs each trial as an
MLflow run of the experiment named after the recipe, at ``MLFLOW_TRACKING_URI`` (MLflow's default:
``./mlruns``). The recipe check makes sure the packages are installed before a search starts.
"""

from __future__ import annotations

from ray.tune import Callback

from ..recipe import Recipe

__all__ = ["tracking_callbacks"]


def tracking_callbacks(recipe: Recipe) -> list[Callback]:
    """The Tune logger callbacks of the trackers ``recipe.search.tracking`` names, in its order."""
    callbacks: list[Callback] = []
    for tracker in recipe.search.tracking:
        if tracker == "tensorboard":
            from ray.tune.logger import TBXLoggerCallback

            callbacks.append(TBXLoggerCallback())
        else:
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            callbacks.append(MLflowLoggerCallback(experiment_name=recipe.name))
    return callbacks
