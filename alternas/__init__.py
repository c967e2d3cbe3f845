"""alternas: config-driven architecture search for diffusion models with ALTER temporal experts."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alternas")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

#: public names imported on first use (``import alternas`` stays fast): name -> (module, attribute)
_LAZY = {
    "train_alter": ("alternas.api", "train_alter"),
    "run_search": ("alternas.search", "search"),
    "write_report": ("alternas.report", "write_report"),
    "export_experts": ("alternas.export", "export_experts"),
    "load_experts": ("alternas.export", "load_experts"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'alternas' has no attribute {name!r}")
