"""Find a diffusers pipeline on disk (a local folder or a Hugging Face id in the local cache) and load its parts.

Everything downstream works on one local folder: a Hub id is resolved to its snapshot in the Hugging
Face cache (whose path names the commit, so caches keyed by it follow the revision). Downloads happen
only when ``model.local_files_only`` is false.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from ..exceptions import BackboneError

__all__ = [
    "PIPELINE_COMPONENTS",
    "resolve_pipeline_dir",
    "read_model_index",
    "load_component",
    "files_fingerprint",
]

#: the pipeline folders alternas reads (others, such as a safety checker, are never loaded)
PIPELINE_COMPONENTS = ("unet", "transformer", "vae", "text_encoder", "tokenizer", "scheduler")

#: weight formats a Hub download skips: other frameworks, half-precision variants, single-file checkpoints
_SKIPPED_DOWNLOADS = ["*.msgpack", "*.h5", "*.onnx", "*.onnx_data", "*.ckpt", "*.fp16.*", "*.pb"]

#: libraries a ``model_index.json`` entry may name for the parts alternas loads
_COMPONENT_LIBRARIES = ("diffusers", "transformers")


def resolve_pipeline_dir(source: str, local_files_only: bool = True) -> Path:
    """The local folder holding ``source``.

    Args:
        source: a local folder (a pipeline or a lone model) or a Hugging Face id (``org/name``).
        local_files_only: never touch the network; a Hub id must then already be in the local cache.

    Raises:
        BackboneError: the folder does not exist and the id is not in the cache (or cannot be fetched).
    """
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise BackboneError(f"`model.backbone` = `{source}` is a file; give the pipeline or model folder")
        return path.resolve()
    from huggingface_hub import snapshot_download

    patterns = ["model_index.json", "config.json", "*.safetensors", "*.bin"]
    patterns += [f"{name}/*" for name in PIPELINE_COMPONENTS]
    try:
        return Path(
            snapshot_download(
                source,
                local_files_only=local_files_only,
                allow_patterns=patterns,
                ignore_patterns=_SKIPPED_DOWNLOADS,
            )
        )
    except Exception as error:  # huggingface_hub raises several types for a missing/unreachable repo
        hint = (
            "download it first (`huggingface-cli download "
            f"{source}`) or set `model.local_files_only: false`"
            if local_files_only
            else "check the id and your network"
        )
        raise BackboneError(
            f"`model.backbone` = `{source}` is neither a local folder nor a Hugging Face id in the "
            f"local cache: {type(error).__name__}: {error}; {hint}"
        ) from error


def read_model_index(directory: Path) -> dict[str, Any] | None:
    """The pipeline's ``model_index.json``, or ``None`` for a lone model folder."""
    path = directory / "model_index.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise BackboneError(f"`{path}` is not valid JSON: {error}") from error


def load_component(directory: Path, name: str, model_index: dict[str, Any]) -> Any:
    """Load pipeline part ``name`` (e.g. ``"text_encoder"``) with the class ``model_index.json`` names.

    Raises:
        BackboneError: the part is not listed, names an unsupported library, or fails to load.
    """
    entry = model_index.get(name)
    if not isinstance(entry, list) or len(entry) != 2 or entry[0] is None:
        raise BackboneError(f"the pipeline at `{directory}` has no `{name}` (model_index.json)")
    library, class_name = entry
    if library not in _COMPONENT_LIBRARIES:
        raise BackboneError(
            f"`{name}` of `{directory}` is a `{library}.{class_name}`; alternas loads parts from "
            f"{list(_COMPONENT_LIBRARIES)} only"
        )
    component_class = getattr(importlib.import_module(library), class_name, None)
    if component_class is None:
        raise BackboneError(
            f"`{library}` has no class `{class_name}` (needed for `{name}` of `{directory}`); "
            f"upgrade {library}"
        )
    try:
        return component_class.from_pretrained(directory / name, local_files_only=True)
    except (OSError, ValueError) as error:
        raise BackboneError(f"cannot load `{name}` from `{directory / name}`: {error}") from error


def files_fingerprint(directories: list[Path]) -> list[tuple[str, int, int]]:
    """``(path, size in bytes, mtime in ns)`` of every file under ``directories``, sorted.

    A cache keyed by it is invalidated when any weight or config file changes.
    """
    entries = []
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                stat = path.stat()
                entries.append((str(path), stat.st_size, stat.st_mtime_ns))
    return entries
