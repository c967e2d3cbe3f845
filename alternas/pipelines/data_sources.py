"""Where training images and their captions or labels come from.

* An image folder, as diffusers' training scripts read it: captions or labels in ``metadata.jsonl``
  (one JSON object per line with ``file_name`` relative to that file's folder), a caption in a ``.txt``
  file beside each image, or a label from the image's class subfolder (``root/<label>/x.png``; folder
  names that are not all integers, such as ImageNet's wnids, give their index in sorted order).
* A Hugging Face dataset (``hf:<local path or id>``): a folder written by ``save_to_disk``, a folder of
  data files, or an id in the local cache; ``datasets`` is an optional dependency.
* webdataset-style tar shards (a ``.tar`` file, a glob such as ``shards/*.tar``, or a folder of
  shards): members grouped by key (the name up to its first dot), an image plus ``.txt`` / ``.cls`` /
  ``.json``.

Every source lists its items in a fixed order without decoding images; :func:`load_image` decodes one.
"""

from __future__ import annotations

import functools
import glob
import io
import json
import tarfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from ..config import DataConfig
from ..exceptions import DataError, MissingDependencyError
from .hub import files_fingerprint

__all__ = ["ConditionKind", "DataItem", "DataSource", "open_data_source", "load_image"]

#: what a backbone is conditioned on: captions, class labels, or nothing
ConditionKind = Literal["caption", "label", None]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_DEFAULT_COLUMNS = {"caption": "text", "label": "label"}


@dataclass(frozen=True)
class DataItem:
    """One training example.

    Attributes:
        key: where it comes from (a path, ``shard.tar:key`` or ``row 12``), for error messages.
        open_image: returns the image (any PIL mode); may raise ``OSError`` for an unreadable file.
        condition: the caption (str) or class label (id or name), ``None`` for unconditional data.
    """

    key: str
    open_image: Callable[[], Image.Image]
    condition: Any = None


class DataSource(ABC):
    """An ordered list of :class:`DataItem` plus a fingerprint that changes when the data does."""

    description: str

    @abstractmethod
    def items(self) -> list[DataItem]:
        """Every item, in a fixed order."""

    @abstractmethod
    def fingerprint(self) -> Any:
        """JSON-serialisable identity of the data (file sizes and times, a dataset fingerprint)."""

    def close(self) -> None:
        """Release open files."""


def open_data_source(config: DataConfig, kind: ConditionKind) -> DataSource:
    """The source ``config.source`` names, reading the conditions a backbone of ``kind`` needs.

    Raises:
        DataError: the source does not exist or holds no images.
    """
    source = config.source
    if config.source_kind == "hf":
        return HuggingFaceSource(config.source_name, config, kind)
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".tar":
        return TarShardSource([path], config, kind)
    if config.source_kind == "glob":
        shards = sorted(Path(p) for p in glob.glob(str(path)) if p.endswith(".tar"))
        if not shards:
            raise DataError(f"`data.source` pattern `{source}` matches no .tar shards")
        return TarShardSource(shards, config, kind)
    if not path.is_dir():
        raise DataError(
            f"`data.source` = `{source}` does not exist; give an image folder, .tar shards, or "
            "`hf:<dataset path or id>`"
        )
    if not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.rglob("*")) and any(path.glob("*.tar")):
        return TarShardSource(sorted(path.glob("*.tar")), config, kind)
    return ImageFolderSource(path, config, kind)


def load_image(item: DataItem, resolution: int) -> torch.Tensor:
    """Decode an item's image to RGB, resize its short side to ``resolution`` and center-crop a square.

    Returns:
        `torch.Tensor` of shape ``(3, resolution, resolution)``, uint8.

    Raises:
        DataError: the image cannot be read.
    """
    try:
        image = item.open_image()
        image.load()
    except OSError as error:
        raise DataError(f"cannot read image `{item.key}`: {error}; remove or replace the file") from error
    image = image.convert("RGB")
    scale = resolution / min(image.size)
    size = (max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (image.width - resolution) // 2, (image.height - resolution) // 2
    image = image.crop((left, top, left + resolution, top + resolution))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)  # (3, R, R)


def _column(config: DataConfig, kind: ConditionKind) -> str | None:
    if kind == "caption":
        return config.caption_column or _DEFAULT_COLUMNS["caption"]
    if kind == "label":
        return config.label_column or _DEFAULT_COLUMNS["label"]
    return None


class ImageFolderSource(DataSource):
    """Images under a folder (recursively), with ``metadata.jsonl``, ``.txt`` captions or class folders."""

    def __init__(self, root: Path, config: DataConfig, kind: ConditionKind) -> None:
        self.root = root
        self.kind = kind
        self.column = _column(config, kind)
        self.description = f"image folder {root}"

    def _metadata(self) -> dict[Path, dict[str, Any]]:
        rows: dict[Path, dict[str, Any]] = {}
        for metadata in sorted(self.root.rglob("metadata.jsonl")):
            for number, line in enumerate(metadata.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    rows[(metadata.parent / row["file_name"]).resolve()] = row
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise DataError(
                        f"`{metadata}` line {number} is not a JSON object with `file_name`: {error}"
                    ) from error
        return rows

    def _folder_labels(self, paths: list[Path]) -> dict[str, int]:
        """Class id of each class folder: its name when every name is an integer, else its index among
        the sorted names (the ImageFolder convention: ImageNet's wnid folders give the standard ids)."""
        names = sorted({p.relative_to(self.root).parts[0] for p in paths if p.parent != self.root})
        if all(name.isdigit() for name in names):
            return {name: int(name) for name in names}
        return {name: index for index, name in enumerate(names)}

    def _condition(self, path: Path, row: dict[str, Any] | None, folder_labels: dict[str, int]) -> Any:
        if self.kind is None:
            return None
        if row is not None and self.column in row:
            return row[self.column]
        if self.kind == "caption" and path.with_suffix(".txt").is_file():
            return path.with_suffix(".txt").read_text().strip()
        if self.kind == "label" and path.parent != self.root:
            return folder_labels[path.relative_to(self.root).parts[0]]
        options = (
            f"a `{self.column}` field in metadata.jsonl or a .txt caption beside the image"
            if self.kind == "caption"
            else f"a `{self.column}` field in metadata.jsonl or a class subfolder"
        )
        raise DataError(
            f"image `{path}` has no {self.kind}: add {options} (set `data."
            f"{'caption' if self.kind == 'caption' else 'label'}_column` to use another field)"
        )

    def items(self) -> list[DataItem]:
        rows = self._metadata()
        paths = sorted(
            (p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
            key=lambda p: p.relative_to(self.root).as_posix(),
        )
        if not paths:
            raise DataError(
                f"`{self.root}` holds no images ({', '.join(IMAGE_EXTENSIONS)}); the dataset is empty"
            )
        missing = [str(p) for p in rows if not p.is_file()]
        if missing:
            raise DataError(f"metadata.jsonl lists {len(missing)} missing files, e.g. `{missing[0]}`")
        folder_labels = self._folder_labels(paths) if self.kind == "label" else {}
        return [
            DataItem(str(p), functools.partial(Image.open, p), self._condition(p, rows.get(p.resolve()), folder_labels))
            for p in paths
        ]

    def fingerprint(self) -> Any:
        return {"folder": str(self.root.resolve()), "files": files_fingerprint([self.root])}


class HuggingFaceSource(DataSource):
    """A ``datasets`` dataset: its ``train`` split (or its only split), loaded from disk or the cache."""

    def __init__(self, name: str, config: DataConfig, kind: ConditionKind) -> None:
        try:
            import datasets
        except ImportError as error:
            raise MissingDependencyError(
                "`data.source: hf:...` needs the `datasets` package: pip install 'alternas[datasets]'"
            ) from error
        self.name = name
        self.image_column = config.image_column
        self.column = _column(config, kind)
        self.description = f"Hugging Face dataset {name}"
        self.dataset = self._load(datasets, name)
        columns = list(self.dataset.column_names)
        for column, field in ((self.image_column, "image_column"), (self.column, f"{kind}_column")):
            if column is not None and column not in columns:
                raise DataError(
                    f"dataset `{name}` has no column `{column}` (`data.{field}`); its columns are {columns}"
                )
        if len(self.dataset) == 0:
            raise DataError(f"dataset `{name}` is empty")

    @staticmethod
    def _load(datasets: Any, name: str) -> Any:
        path = Path(name).expanduser()
        try:
            if path.is_dir() and any((path / f).is_file() for f in ("dataset_info.json", "dataset_dict.json")):
                loaded = datasets.load_from_disk(str(path))
            else:
                loaded = datasets.load_dataset(str(path) if path.exists() else name)
        except (FileNotFoundError, ValueError, OSError, datasets.exceptions.DatasetNotFoundError) as error:
            raise DataError(f"cannot load Hugging Face dataset `{name}`: {error}") from error
        if isinstance(loaded, datasets.DatasetDict):
            if "train" in loaded:
                return loaded["train"]
            if len(loaded) == 1:
                return next(iter(loaded.values()))
            raise DataError(f"dataset `{name}` has splits {list(loaded)} and no `train` split")
        return loaded

    def _open(self, row: int) -> Callable[[], Image.Image]:
        def open_image() -> Image.Image:
            value = self.dataset[row][self.image_column]
            if isinstance(value, Image.Image):
                return value
            if isinstance(value, dict) and value.get("bytes") is not None:
                return Image.open(io.BytesIO(value["bytes"]))
            if isinstance(value, (dict, str)):
                return Image.open(value["path"] if isinstance(value, dict) else value)
            raise OSError(f"column `{self.image_column}` holds {type(value).__name__}, not an image")

        return open_image

    def items(self) -> list[DataItem]:
        conditions = self.dataset[self.column] if self.column is not None else [None] * len(self.dataset)
        return [DataItem(f"{self.name} row {i}", self._open(i), c) for i, c in enumerate(conditions)]

    def fingerprint(self) -> Any:
        return {"dataset": self.name, "fingerprint": self.dataset._fingerprint, "rows": len(self.dataset)}


class TarShardSource(DataSource):
    """webdataset-style shards: each key's image member with its ``.txt`` / ``.cls`` / ``.json`` members."""

    def __init__(self, shards: list[Path], config: DataConfig, kind: ConditionKind) -> None:
        self.shards = shards
        self.kind = kind
        self.column = _column(config, kind)
        self.description = f"{len(shards)} tar shard(s) from {shards[0].parent}"
        self._open_shards: dict[Path, tarfile.TarFile] = {}

    def _shard(self, path: Path) -> tarfile.TarFile:
        if path not in self._open_shards:
            try:
                self._open_shards[path] = tarfile.open(path)
            except (tarfile.TarError, OSError) as error:
                raise DataError(f"cannot read tar shard `{path}`: {error}") from error
        return self._open_shards[path]

    def _condition(self, key: str, members: dict[str, bytes]) -> Any:
        if self.kind is None:
            return None
        text_member = "txt" if self.kind == "caption" else "cls"
        if text_member in members:
            text = members[text_member].decode().strip()
            return text if self.kind == "caption" else (int(text) if text.lstrip("-").isdigit() else text)
        if "json" in members:
            row = json.loads(members["json"])
            if self.column in row:
                return row[self.column]
        raise DataError(
            f"`{key}` has no {self.kind}: add a `.{text_member}` member or a `{self.column}` field in its `.json`"
        )

    def items(self) -> list[DataItem]:
        items = []
        for path in self.shards:
            shard = self._shard(path)
            groups: dict[str, dict[str, tarfile.TarInfo]] = {}
            for member in shard.getmembers():
                if not member.isfile():
                    continue
                directory, _, name = member.name.rpartition("/")
                stem, _, extension = name.partition(".")
                groups.setdefault(f"{directory}/{stem}", {})[extension.lower()] = member
            for key, members in groups.items():
                image = next((m for ext, m in members.items() if f".{ext}" in IMAGE_EXTENSIONS), None)
                if image is None:
                    continue
                small = {
                    ext: shard.extractfile(m).read() for ext, m in members.items() if ext in ("txt", "cls", "json")
                }
                where = f"{path}:{key.lstrip('/')}"
                items.append(DataItem(where, self._opener(path, image), self._condition(where, small)))
        if not items:
            raise DataError(f"the tar shards ({self.description}) hold no images; the dataset is empty")
        return items

    def _opener(self, path: Path, member: tarfile.TarInfo) -> Callable[[], Image.Image]:
        return lambda: Image.open(io.BytesIO(self._shard(path).extractfile(member).read()))

    def fingerprint(self) -> Any:
        return {"shards": [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in self.shards]}

    def close(self) -> None:
        for shard in self._open_shards.values():
            shard.close()
        self._open_shards.clear()
