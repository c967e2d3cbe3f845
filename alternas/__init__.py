"""alternas: config-driven architecture search for diffusion models with ALTER temporal experts."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alternas")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
