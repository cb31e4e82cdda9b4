"""The package's import graph: no cycles between modules, and the leaves stay leaves."""

from __future__ import annotations

import ast
from pathlib import Path

import sleuth
from sleuth.config import STOPWORD_LISTS
from sleuth.indexes.tokenize import STOPWORDS

ROOT = Path(sleuth.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["sleuth", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """The sleuth modules ``path`` imports when it is loaded (not inside functions, not under
    ``if TYPE_CHECKING``)."""
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in MODULES and node.module != name:  # a package naming its own parts
                out.add(node.module)
            out.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if f"{node.module}.{a.name}" in MODULES
            )
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_no_module_imports_itself_back() -> None:
    cycles = []

    def visit(name: str, stack: list[str], done: set[str]) -> None:
        if name in stack:
            cycles.append(" -> ".join([*stack[stack.index(name) :], name]))
            return
        if name in done:
            return
        for dep in sorted(GRAPH[name]):
            visit(dep, [*stack, name], done)
        done.add(name)

    done: set[str] = set()
    for name in sorted(GRAPH):
        visit(name, [], done)
    assert not cycles, cycles


def test_the_graph_sees_real_imports() -> None:
    # the check above would pass vacuously if the parser found nothing
    assert "sleuth.config" in GRAPH["sleuth.indexes.muvera"]
    assert "sleuth.io._files" in GRAPH["sleuth.io.events"]


def test_config_and_version_are_leaves() -> None:
    """Every layer reads the configs and the version string; they import nothing above them."""
    allowed = {"sleuth.checks", "sleuth.errors", "sleuth.spaces"}
    assert GRAPH["sleuth.config"] <= allowed, GRAPH["sleuth.config"] - allowed
    # the vector spaces' config: the same leaves, and the vector limits
    spaces = {"sleuth.checks", "sleuth.errors", "sleuth.vectors"}
    assert GRAPH["sleuth.spaces"] <= spaces, GRAPH["sleuth.spaces"] - spaces
    assert GRAPH["sleuth.vectors"] <= {"sleuth.errors"}
    assert GRAPH["sleuth._version"] == set()
    below_root = [n for n, deps in GRAPH.items() if n != "sleuth" and "sleuth" in deps]
    assert not below_root, f"modules importing the package root: {below_root}"


def test_the_stopword_lists_configs_allow_are_the_ones_the_analyzer_has() -> None:
    assert set(STOPWORD_LISTS) == set(STOPWORDS)
