"""Image grids for reports and ``alternas generate``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ._atomic import atomic_path

__all__ = ["image_grid", "save_image_grid"]


def image_grid(images: torch.Tensor, columns: int | None = None, scale: int = 1, padding: int = 1) -> Image.Image:
    """Tile images (``[0, 1]``, ``(N, C, H, W)``, C = 1 or 3) into one PIL image.

    Args:
        images: the images.
        columns: images per row (default: about square).
        scale: integer nearest-neighbour upscaling (tiny digits are 8 px).
        padding: pixels of white between tiles (before scaling).
    """
    count, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = torch.ones(channels, rows * (height + padding) + padding, columns * (width + padding) + padding)
    for index, image in enumerate(images.float().clamp(0, 1).cpu()):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[:, top : top + height, left : left + width] = image
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    picture = Image.fromarray(array[..., 0] if channels == 1 else array)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return picture


def save_image_grid(images: torch.Tensor, path: str | Path, columns: int | None = None, scale: int = 1) -> Path:
    """Write :func:`image_grid` to ``path`` (PNG), creating folders as needed."""
    path = Path(path)
    with atomic_path(path) as partial:
        image_grid(images, columns=columns, scale=scale).save(partial, format="PNG")
    return path
