"""Starting recipes shipped with the package: ``alternas init`` copies one out, so an installed
alternas (a wheel, no repository) can run a search without the repository's ``recipes/``.

Each starter is a recipe ``<name>.yaml`` whose ``space:`` names ``<name>-space.yaml`` beside it. The
repository's ``recipes/quickstart.yaml`` and ``search_spaces/quickstart.yaml`` link to these files.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from ..exceptions import ConfigError

__all__ = ["STARTERS", "write_starter"]

#: starter names (``alternas init --starter``)
STARTERS = ("quickstart",)

_SPACE_LINE = re.compile(r"^space: \S+", re.MULTILINE)
_OUTPUT_LINE = re.compile(r"^output_dir: \S+", re.MULTILINE)


def write_starter(recipe_path: Path, starter: str = "quickstart", overwrite: bool = False) -> tuple[Path, Path]:
    """Write the starter recipe to ``recipe_path`` and its search space beside it.

    The copy's ``space:`` names the space file written next to it (``<stem>-space.yaml``) and its
    ``output_dir`` is ``reports/<stem>``; everything else, comments included, is the starter's.

    Returns:
        The recipe and space files written.

    Raises:
        ConfigError: unknown starter, a target that exists (without ``overwrite``), or a recipe path
            that does not end in ``.yaml`` / ``.yml``.
    """
    if starter not in STARTERS:
        raise ConfigError(f"unknown starter `{starter}`: choose one of {', '.join(STARTERS)}")
    if recipe_path.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"`{recipe_path}`: a recipe file ends in .yaml or .yml; give e.g. my-search.yaml")
    space_path = recipe_path.with_name(f"{recipe_path.stem}-space{recipe_path.suffix}")
    existing = [f"`{path}`" for path in (recipe_path, space_path) if path.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{' and '.join(existing)} already exist; choose another name, or pass --force to overwrite")
    package = resources.files(__name__)
    recipe_text = (package / f"{starter}.yaml").read_text(encoding="utf-8")
    recipe_text = _SPACE_LINE.sub(f"space: {space_path.name}", recipe_text, count=1)
    recipe_text = _OUTPUT_LINE.sub(f"output_dir: reports/{recipe_path.stem}", recipe_text, count=1)
    recipe_path.parent.mkdir(parents=True, exist_ok=True)
    space_path.write_text((package / f"{starter}-space.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    recipe_path.write_text(recipe_text, encoding="utf-8")
    return recipe_path, space_path
