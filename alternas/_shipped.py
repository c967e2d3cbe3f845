"""Weights that ship inside the package, so every machine scores with the same models.

Each file is ``alternas/weights/<name>.safetensors``; its metadata holds the cache key of the config
that produced it, and it is used only for exactly that config (any other config trains and caches its
own weights, as before). ``scripts/ship_digits_weights.py`` regenerates the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ._atomic import atomic_path

__all__ = ["SHIPPED_DIR", "shipped_state", "write_shipped_state"]

#: where the shipped weights live (package data)
SHIPPED_DIR = Path(__file__).parent / "weights"


def shipped_state(name: str, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The state dict shipped as ``name`` and its ``info``, if it was made by the config whose cache key is
    ``key``; else ``None``."""
    path = SHIPPED_DIR / f"{name}.safetensors"
    if not path.is_file():
        return None
    with safe_open(path, framework="pt") as handle:
        metadata = handle.metadata() or {}
        if metadata.get("key") != key:
            return None
        return {tensor: handle.get_tensor(tensor) for tensor in handle.keys()}, json.loads(metadata["info"])


def write_shipped_state(name: str, key: str, state: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    """Write ``state`` as the shipped weights ``name`` for the config ``key``; ``info`` is kept as JSON metadata."""
    path = SHIPPED_DIR / f"{name}.safetensors"
    tensors = {tensor: value.detach().cpu().contiguous() for tensor, value in state.items()}
    with atomic_path(path) as partial:
        save_file(tensors, partial, metadata={"key": key, "info": json.dumps(info, sort_keys=True)})
    return path
