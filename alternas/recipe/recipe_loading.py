"""Read a recipe file, include its search-space file, resolve its paths and validate all of it.

Relative input paths (``space``, ``model.architecture``, ``model.backbone``, ``data.source``,
``eval.prompts_file``, ``eval.inception_weights``, ``eval.clip_model``) are looked up next to the
recipe file first, then in the current directory; the first that exists is used, as an absolute path.
Output paths (``output_dir``, ``data.cache_dir``) are relative to the current directory. Every
problem is reported at once, one line each, naming the file and the field; the error's exit code is 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .._readers import short
from .._validation import validate_config
from ..exceptions import ConfigError
from .checks import recipe_problems
from .problems import Problem
from .recipe_model import Recipe
from .space import SEARCHED_SECTIONS, SearchSpace

__all__ = ["load_recipe", "read_yaml"]

#: (section, field) of input paths resolved next to the recipe, and whether they must exist
_INPUT_PATHS: tuple[tuple[str, str, bool], ...] = (
    ("model", "architecture", True),
    ("model", "backbone", False),
    ("data", "source", False),
    ("eval", "prompts_file", True),
    ("eval", "inception_weights", True),
    ("eval", "clip_model", True),
)
_OUTPUT_PATHS = (("data", "cache_dir"),)

#: most YAML nodes a recipe or search space may hold once its aliases are expanded
MAX_YAML_NODES = 100_000


def read_yaml(path: Path, what: str) -> dict[str, Any]:
    """A YAML file holding a mapping.

    Raises:
        ConfigError: the file is missing, is not valid YAML, or does not hold a mapping.
    """
    try:
        data = _safe_load_bounded(path.read_text(encoding="utf-8"), path)
    except FileNotFoundError as error:
        raise ConfigError(f"{what} `{path}` does not exist") from error
    except IsADirectoryError as error:
        raise ConfigError(f"{what} `{path}` is a folder; give a YAML file") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {short(error, 500)}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} must be a mapping of sections, got {type(data).__name__}")
    return data


def _safe_load_bounded(text: str, path: Path) -> Any:
    """``yaml.safe_load`` that refuses documents whose aliases expand past :data:`MAX_YAML_NODES` nodes
    (a "billion laughs" file), before anything is built from them."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded = _expanded_size(node, {})
        if expanded > MAX_YAML_NODES:
            raise ConfigError(
                f"{path}: its aliases (`*name`) expand to more than {MAX_YAML_NODES} YAML nodes; "
                "write the values out instead of nesting aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes in ``node`` with every alias expanded (each distinct node is counted once, then memoised)."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a recursive alias counts once here; safe_load rejects recursion where it matters
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    size = 1 + sum(min(_expanded_size(child, sizes), MAX_YAML_NODES + 1) for child in children)
    sizes[id(node)] = min(size, MAX_YAML_NODES + 1)
    return sizes[id(node)]


def load_recipe(source: str | Path | Mapping[str, Any]) -> Recipe:
    """Read and validate a recipe (schema and cross-field checks; budgets need :func:`inspect_recipe`).

    Args:
        source: a recipe YAML file, or the recipe as a mapping (paths relative to the current directory).

    Raises:
        ConfigError: anything is malformed; the message names the file, the field path and the fix.
    """
    if isinstance(source, Mapping):
        data, origin, folder = dict(source), "<recipe>", Path.cwd()
    else:
        path = Path(source)
        data, origin, folder = read_yaml(path, "recipe"), str(path), path.resolve().parent
    misplaced = [key for key in SEARCHED_SECTIONS if key in data]
    if misplaced:
        raise ConfigError(
            "\n".join(
                f"{origin}: `{key}`: searched over, so it belongs in the search space: move it to `space.{key}`"
                for key in misplaced
            )
        )
    name = data.get("name") if isinstance(data.get("name"), str) else Path(origin).stem
    data.setdefault("name", name)
    data.setdefault("output_dir", f"reports/{name}")
    if isinstance(data.get("space"), str):
        data["space"] = _include_space(data["space"], origin, folder)

    recipe = validate_config(Recipe, data, origin)
    problems = _resolve_paths(recipe, folder) + recipe_problems(recipe)
    if problems:
        raise ConfigError("\n".join(problem.format(origin) for problem in problems))
    return recipe


def _include_space(reference: str, origin: str, folder: Path) -> dict[str, Any]:
    """The search space file ``reference`` names, validated on its own so errors name that file."""
    path = _find_input(reference, folder)
    if path is None:
        raise ConfigError(
            f"{origin}: `space`: search space file `{reference}` does not exist (looked in {folder} and "
            f"{Path.cwd()}); give its path or write the space inline"
        )
    data = read_yaml(path, "search space")
    validate_config(SearchSpace, data, str(path), prefix="space")
    return data


def _find_input(value: str, folder: Path) -> Path | None:
    """The first existing of ``folder / value`` and ``./value`` (absolute), or ``None``."""
    raw = Path(value).expanduser()
    for candidate in (raw,) if raw.is_absolute() else (folder / raw, Path.cwd() / raw):
        if candidate.exists():
            return candidate.resolve()
    return None


def _resolve_paths(recipe: Recipe, folder: Path) -> list[Problem]:
    """Make input and output paths absolute; report required inputs that do not exist."""
    problems = []
    for section_name, field, required in _INPUT_PATHS:
        section = getattr(recipe, section_name)
        value = getattr(section, field)
        if value is None or _is_not_a_path(section_name, field, section):
            continue
        found = _find_input(value, folder)
        if found is not None:
            setattr(section, field, str(found))
        elif required:
            problems.append(
                Problem(
                    f"{section_name}.{field}",
                    f"`{value}` does not exist (looked in {folder} and {Path.cwd()}); fix the path",
                )
            )
    for section_name, field in _OUTPUT_PATHS:
        section = getattr(recipe, section_name)
        if getattr(section, field) is not None:
            setattr(section, field, str(Path(getattr(section, field)).expanduser().resolve()))
    recipe.output_dir = str(Path(recipe.output_dir).expanduser().resolve())
    return problems


_NOT_PATHS: dict[tuple[str, str], Callable[[Any], bool]] = {
    ("model", "backbone"): lambda model: model.builtin_name is not None,
    ("data", "source"): lambda data: data.source_kind != "path",
}


def _is_not_a_path(section_name: str, field: str, section: Any) -> bool:
    """Whether the section's ``field`` names something other than a file (a builtin, a dataset id, a glob)."""
    rule = _NOT_PATHS.get((section_name, field))
    return rule is not None and rule(section)
