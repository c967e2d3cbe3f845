"""alternas: config-driven architecture search for diffusion models with ALTER temporal experts."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alternas")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

#: public names imported on first use (``import alternas`` stays fast): name -> module
_LAZY = {
    "load_experts": "alternas.export",
    "export_experts": "alternas.export",
    "write_report": "alternas.report",
    "search": "alternas.search",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'alternas' has no attribute {name!r}")
