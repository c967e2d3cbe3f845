"""The package's layers: imports point down, and the library never imports the command line."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "alternas"


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the ``alternas`` modules a file imports (relative imports resolved)."""
    package = list(path.relative_to(PACKAGE.parent).parts[:-1])  # where `from .x` starts, also for __init__
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "alternas" or name.startswith("alternas.")}


def test_no_library_module_imports_the_cli():
    library = [p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts]
    assert len(library) > 50
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(n for n in imported_modules(path) if n.split(".")[:2] == ["alternas", "cli"])
        for path in library
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_import_resolver_sees_relative_imports():
    assert "alternas.cli._app" in imported_modules(PACKAGE / "cli" / "validate.py")
    assert "alternas.routing" in imported_modules(PACKAGE / "evaluation" / "trial.py")
