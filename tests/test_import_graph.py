"""The package's import graph has no cycle: layers import downwards only.

Every ``import`` and ``from ... import`` in ``alternas/`` counts, at module level or inside a function
(a lazy import still ties two modules together). ``from package import name`` is an edge to the
submodule ``package.name`` when one exists, else to the package. Importing ``a.b.c`` first runs the
package ``a.b``'s ``__init__``, so that is an edge too (except to the importer's own packages, which are
already running). Imports under ``if TYPE_CHECKING:`` run only for type checkers and are left out.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import alternas

ROOT = Path(alternas.__file__).parent


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``module -> the alternas modules it imports`` for every ``.py`` file under ``root``."""
    files = {_module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            if node.level:
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in files else base)
        own = {module.rsplit(".", depth)[0] for depth in range(module.count(".") + 1)}
        parents = {target.rsplit(".", depth)[0] for target in targets for depth in range(1, target.count(".") + 1)}
        graph[module] = {target for target in targets | parents if target in files and target not in own}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


def test_the_graph_sees_lazy_imports_and_finds_a_planted_cycle(tmp_path):
    package = tmp_path / "alternas"
    (package / "zoo").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "zoo" / "__init__.py").write_text("from .digits import load\n")
    (package / "zoo" / "digits.py").write_text("from ..bundle import Bundle\n")
    (package / "bundle.py").write_text("class Bundle:\n    pass\n\ndef load():\n    from .zoo import load\n")
    graph = import_graph(package)
    assert graph["alternas.bundle"] == {"alternas.zoo"}
    assert find_cycle(graph) == ["alternas.bundle", "alternas.zoo", "alternas.zoo.digits", "alternas.bundle"]


def test_alternas_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_trial_worker_imports_neither_the_search_driver_nor_optuna_nor_the_report():
    """Ray imports :mod:`alternas.search.trainable` in every trial worker before its trial starts: that
    import is overhead of every trial slot, so it leaves out what only the driver uses."""
    driver_only = ["alternas.search.driver", "alternas.search.searcher", "alternas.report", "optuna"]
    probe = f"import sys, alternas.search.trainable; print([m for m in {driver_only!r} if m in sys.modules])"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT.parent), os.environ.get("PYTHONPATH", "")])}
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment, check=True)
    assert output.stdout.strip() == "[]"
    from alternas.search import Objectives, SearchResult, SearchState, search  # the package still exports them

    assert callable(search) and {Objectives.__name__, SearchResult.__name__, SearchState.__name__}


#: the package's layers, lowest first, as docs/contributing.md draws them: a module may import from its own
#: layer and the ones below, never from a layer above
LAYERS = (
    ("config", "metrics", "quality", "routing", "pareto", "rundir", "exceptions", "samplers", "runtime",
     "features", "images", "_validation", "_readers", "_atomic", "_cache", "_shipped"),
    ("backbones", "bundle", "units", "gating", "macs", "hypernet", "losses", "plan"),
    ("zoo", "pipelines", "data", "recipe", "starters"),
    ("sources",),
    ("api", "trainer", "evaluation", "batches", "distillation", "budget", "optim", "checkpoints"),
    ("search", "report", "export"),
    ("cli",),
)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a lower layer to a higher one, as ``"a -> b"`` (the package's own ``__init__``,
    which re-exports the public API, is left out)."""
    layer = {name: index for index, names in enumerate(LAYERS) for name in names}
    found = []
    for module, targets in sorted(graph.items()):
        if module.count(".") < 1:
            continue
        for target in sorted(targets):
            if target.count(".") >= 1 and layer[target.split(".")[1]] > layer[module.split(".")[1]]:
                found.append(f"{module} -> {target}")
    return found


def test_every_module_belongs_to_a_layer_and_no_import_runs_upward():
    graph = import_graph()
    top = {module.split(".")[1] for module in graph if module.count(".") >= 1}
    assert top == {name for names in LAYERS for name in names}
    assert upward_imports(graph) == []


def test_the_layer_check_finds_a_planted_upward_import():
    graph = {"alternas.pareto": {"alternas.trainer"}, "alternas.trainer": {"alternas.pareto"}}
    assert upward_imports(graph) == ["alternas.pareto -> alternas.trainer"]


def test_no_two_modules_share_a_file_name():
    names: dict[str, list[str]] = {}
    for path in ROOT.rglob("*.py"):
        if path.name != "__init__.py":
            names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
