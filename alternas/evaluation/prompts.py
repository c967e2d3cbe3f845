"""Evaluation conditions: the prompts of ``eval.prompts_file``, or the conditioner's defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..bundle import Conditioner
from ..config import EvalConfig
from ..exceptions import ConfigError

__all__ = ["read_prompts", "evaluation_conditions"]


def read_prompts(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file, one prompt (or class name/id) per line.

    Raises:
        ConfigError: the file is missing or holds no prompt.
    """
    file = Path(path).expanduser()
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as error:
        raise ConfigError(f"`eval.prompts_file` = `{file}` does not exist") from error
    prompts = [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise ConfigError(f"`eval.prompts_file` = `{file}` holds no prompt (one per line)")
    return prompts


def evaluation_conditions(conditioner: Conditioner, config: EvalConfig, count: int | None = None) -> list[Any]:
    """``count`` (default ``eval.num_samples``) conditions: the prompts file's lines cycled, if set,
    else the conditioner's defaults (balanced classes, or the training data's captions)."""
    count = config.num_samples if count is None else count
    if config.prompts_file is None:
        return conditioner.evaluation_conditions(count)
    prompts = read_prompts(config.prompts_file)
    return [prompts[i % len(prompts)] for i in range(count)]
