"""Read the JSON and YAML files of run directories and exports: one clear error for a damaged file.

Every reader raises :class:`~alternas.exceptions.CheckpointError` naming the file and what is wrong
with it (missing, unreadable, not UTF-8, not valid JSON/YAML, the wrong type, invalid fields), so
the report, export, generate and resume paths never show a traceback for a damaged file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .exceptions import CheckpointError

__all__ = ["LOAD_ERRORS", "read_text", "read_json", "read_yaml", "read_model", "read_diffusers_config", "short"]

#: what diffusers' ``from_pretrained`` (and the safetensors and torch readers under it) raise for a
#: damaged, mistyped or incomplete model folder: callers turn them into one CheckpointError naming it
LOAD_ERRORS: tuple[type[Exception], ...] = (
    OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError, NotImplementedError
)

_Model = TypeVar("_Model", bound=BaseModel)

#: longest excerpt of a bad value or parser message quoted in an error
_EXCERPT_CHARS = 200

_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", int: "an integer", float: "a number"}


def short(value: Any, limit: int = _EXCERPT_CHARS) -> str:
    """``str(value)`` cut to ``limit`` characters (error messages quote user data, never all of it)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path``.

    Raises:
        CheckpointError: the file is missing, unreadable or not UTF-8.
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise CheckpointError(f"`{path}` is missing") from error
    except UnicodeDecodeError as error:
        raise CheckpointError(f"`{path}` is damaged: it is not UTF-8 text ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise CheckpointError(f"`{path}` cannot be read: {error.strerror or error}") from error


def read_json(path: str | Path, expected: type = dict) -> Any:
    """The JSON value in ``path``, which must be of type ``expected`` (``dict``: an object).

    Raises:
        CheckpointError: the file is missing, unreadable, not JSON, or holds another type.
    """
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"`{path}` is damaged: not valid JSON ({error.msg}, line {error.lineno})") from error
    return _expect(path, data, expected)


def read_yaml(path: str | Path, expected: type = dict) -> Any:
    """The YAML document in ``path`` (an empty file is ``None``, which is not a mapping).

    Raises:
        CheckpointError: the file is missing, unreadable, not YAML, or holds another type.
    """
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as error:
        raise CheckpointError(f"`{path}` is damaged: not valid YAML ({short(error)})") from error
    return _expect(path, data, expected)


def read_model(path: str | Path, model: type[_Model]) -> _Model:
    """``model`` validated from the JSON (``*.json``) or YAML file ``path``.

    Raises:
        CheckpointError: the file is unreadable (see :func:`read_json`) or its fields are invalid.
    """
    data = read_json(path) if Path(path).suffix == ".json" else read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"`{'.'.join(str(part) for part in item['loc']) or '(top level)'}`: {short(item['msg'], 120)}"
            for item in error.errors()[:3]
        )
        more = f" (and {error.error_count() - 3} more)" if error.error_count() > 3 else ""
        raise CheckpointError(f"`{path}` is damaged: {problems}{more}") from error


def read_diffusers_config(path: str | Path) -> dict[str, Any]:
    """A diffusers ``config.json`` or ``model_index.json``, checked for the types diffusers relies on:
    ``_class_name`` and ``_diffusers_version`` are strings, and in a ``model_index.json`` each component
    (a list value, or an entry named after a subfolder with a ``config.json``) is a ``[library, class
    name]`` pair of strings (or nulls); other entries are the pipeline's own settings.

    Raises:
        CheckpointError: the file is missing, unreadable, not a JSON object, or a field has the wrong type.
    """
    config = read_json(path)
    for key in ("_class_name", "_diffusers_version"):
        if key in config and not isinstance(config[key], str):
            raise CheckpointError(f"`{path}` is damaged: `{key}` holds {_type_name(config[key])}, expected a string")
    if Path(path).name == "model_index.json":
        folders = {p.parent.name for p in Path(path).parent.glob("*/config.json")}
        for name, entry in config.items():
            if name.startswith("_") or not (isinstance(entry, list) or name in folders):
                continue
            if not (
                isinstance(entry, list) and len(entry) == 2 and all(part is None or isinstance(part, str) for part in entry)
            ):
                raise CheckpointError(
                    f"`{path}` is damaged: component `{name}` holds {_type_name(entry)}, expected a "
                    "[library, class name] pair"
                )
    return config


def _expect(path: str | Path, data: Any, expected: type) -> Any:
    if not isinstance(data, expected) or isinstance(data, bool) and expected is not bool:
        raise CheckpointError(
            f"`{path}` is damaged: it holds {_type_name(data)}, expected {_TYPE_NAMES.get(expected, expected.__name__)}"
        )
    return data


def _type_name(data: Any) -> str:
    if data is None:
        return "nothing"
    return _TYPE_NAMES.get(type(data), type(data).__name__)
