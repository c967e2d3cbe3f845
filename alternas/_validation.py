"""Validate user-written values with pydantic; a failure is one :class:`ConfigError` naming file, field and fix."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ._readers import short
from .exceptions import ConfigError

__all__ = ["validate_config", "validation_error_message"]

_Model = TypeVar("_Model", bound=BaseModel)


def validate_config(model: type[_Model], data: Any, source: str | Path, prefix: str = "") -> _Model:
    """``model`` validated from ``data``, the one way user input becomes a config.

    Args:
        model: the pydantic model.
        data: the values (a dict from a YAML file, command-line options...).
        source: where they came from (a file, ``"command line"``), named in the message.
        prefix: the field path of ``data`` inside its file, e.g. ``"report"``.

    Raises:
        ConfigError: one line per problem (see :func:`validation_error_message`).
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(validation_error_message(error, source, model, prefix=prefix)) from error


def validation_error_message(
    error: ValidationError, source: str | Path, model: type[BaseModel] | None = None, prefix: str = ""
) -> str:
    """One line per problem: ``<file>: `<field path>`: <problem>`` with a did-you-mean for unknown keys.

    Args:
        error: the pydantic error.
        source: the file the values came from.
        model: the root model (to suggest known keys for a misspelled one).
        prefix: a field-path prefix when ``error`` is about a sub-section.
    """
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        path = f"{prefix}.{location}" if prefix and location else (prefix or location)
        message = item["msg"]
        if item["type"] == "extra_forbidden" and model is not None:
            known = _known_keys(model, item["loc"][:-1])
            close = difflib.get_close_matches(str(item["loc"][-1]), known, n=1)
            message = "unknown key" + (f"; did you mean `{close[0]}`?" if close else f"; known keys: {', '.join(known)}")
        elif "input" in item and item["type"] not in ("missing",):
            message = f"{message} (got {short(repr(item['input']))})"
        lines.append(f"{source}: `{path}`: {message}")
    return "\n".join(lines)


def _known_keys(model: type[BaseModel], location: tuple) -> list[str]:
    """Field names of the sub-model at ``location`` (best effort)."""
    current: type[BaseModel] | None = model
    for part in location:
        if current is None or isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return sorted(current.model_fields) if current is not None else []
