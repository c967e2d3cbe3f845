"""alternas: config-driven architecture search for diffusion models with ALTER temporal experts."""

from __future__ import annotations

import importlib
import sys
import warnings
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
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'alternas' has no attribute {name!r}")


# `DiffusionPipeline.from_pretrained(<export folder>)` after `import alternas`: diffusers finds an export's
# classes only among the modules already imported, and `alternas.export` registers them when it is imported
# (alternas/export/_diffusers.py). Importing it here would make `import alternas` import torch and
# diffusers, so it is imported with diffusers' pipelines: now if they are imported, else right after.

#: the diffusers modules after whose import `alternas.export` is imported: the pipelines, and diffusers
#: itself (with DIFFUSERS_SLOW_IMPORT set, it imports its pipelines while it is half-imported)
_HOOKED = ("diffusers", "diffusers.pipelines")
#: the hooked modules being imported now
_importing: set[str] = set()


def _import_export() -> None:
    """Import :mod:`alternas.export` once diffusers' pipelines are imported, unless it is imported (or
    being imported: it registers itself)."""
    if _importing or _HOOKED[1] not in sys.modules or "alternas.export" in sys.modules:
        return
    try:
        importlib.import_module("alternas.export")
    except Exception as error:  # noqa: BLE001 - never break the diffusers import that triggered this
        warnings.warn(
            f"alternas could not import alternas.export with diffusers' pipelines ({type(error).__name__}: "
            f"{error}); `import alternas.export` before `DiffusionPipeline.from_pretrained` of an alternas export",
            stacklevel=2,
        )


class _ImportExportAfter:
    """A module loader: ``loader``'s, then :func:`_import_export` once the module has run."""

    def __init__(self, loader, name: str) -> None:
        self._loader = loader
        self._name = name

    def __getattr__(self, name: str):
        if name in ("_loader", "_name"):  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        _importing.add(self._name)
        try:
            self._loader.exec_module(module)
        finally:
            _importing.discard(self._name)
        _import_export()


class _DiffusersHook:
    """A ``sys.meta_path`` finder that finds nothing itself: the other finders find the hooked modules, and
    their loaders are wrapped so that :func:`_import_export` runs right after each is imported."""

    def find_spec(self, name: str, path=None, target=None):
        if name not in _HOOKED:
            return None
        for finder in [finder for finder in sys.meta_path if finder is not self]:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec is not None else None
            if spec is not None:
                if hasattr(spec.loader, "exec_module"):
                    spec.loader = _ImportExportAfter(spec.loader, name)
                return spec
        return None


if _HOOKED[1] in sys.modules:
    _import_export()
elif not any(type(finder).__name__ == _DiffusersHook.__name__ for finder in sys.meta_path):
    sys.meta_path.insert(0, _DiffusersHook())
