"""Built-in backbones that alternas trains and caches itself (no download)."""

from __future__ import annotations

from typing import Any

from ..bundle import ModelBundle
from ..exceptions import ConfigError

__all__ = ["BUILTINS", "load_builtin"]

#: built-in backbone names and what they are
BUILTINS: dict[str, str] = {
    "digits": "tiny SD-style UNet2DConditionModel for scikit-learn's 8x8 digits, label as a token",
}


def load_builtin(name: str, options: dict[str, Any] | None = None) -> ModelBundle:
    """Load (pretraining and caching on first use) the built-in backbone ``name``.

    Args:
        name: one of :data:`BUILTINS`.
        options: overrides of the builtin's own config (e.g. ``{"pretrain_steps": 200}``).
    """
    if name == "digits":
        from .digits import DigitsTeacherConfig, load_digits_bundle

        return load_digits_bundle(DigitsTeacherConfig.from_options(options or {}))
    raise ConfigError(f"unknown builtin backbone `builtin:{name}`; available: {sorted(BUILTINS)}")
