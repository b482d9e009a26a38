"""The import graph of executor/: every import statement counts (module level, inside functions and
under TYPE_CHECKING), so a cycle hidden by a lazy import fails here like any other. Plus the
boundaries docs/ARCHITECTURE.md states, and the one rule for the environment: only the entry
points read os.environ."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "executor"

# The entry points: they read the process environment and hand values to everything else.
ENV_READERS = {"executor.main", "executor.cli", "executor.api_server"}
HEAVY = ("pyspark", "delta", "azure", "fastapi", "uvicorn", "httpx", "databricks", "deltalake", "requests")
PURE = ("executor.payload", "executor.redaction", "executor.metadata.grouping", "executor.metadata.model",
        "executor.metadata.drift", "executor.metadata.csv_scan", "executor.metadata.samples",
        "executor.storage.rows", "executor.sources.location", "executor.metadata.fanout",
        "executor.metadata.types.algebra", "executor.metadata.types.widening",
        "executor.metadata.types.csv_inference", "executor.metadata.types.json_inference",
        "executor.metadata.types.partition_inference", "executor.metadata.types.parquet_mapping")


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_names(name: str, path: pathlib.Path) -> list[tuple[str, int]]:
    """(absolute module name, line) for every import in the file, wherever it stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.append((candidate if candidate in MODULES else module, node.lineno))
    return found


def internal_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        deps = set()
        for target, _line in imported_names(name, path):
            while target and target not in MODULES:  # `import executor.a.b.c` of a name: its module
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("executor"):
                deps.add(target)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_and_type_checking_imports_are_seen(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import executor.context\n"
                     "def f():\n    from executor.cli import main\n", encoding="utf-8")
    names = imported_names("executor.ops.probe", probe)
    assert ("executor.cli", 5) in names
    assert ("executor.context", 3) in names


def test_no_import_cycles_in_executor():
    found = cycles(internal_graph())
    assert not found, "import cycles (every import counts, lazy ones too): " + "; ".join(
        " <-> ".join(c) for c in found)


@pytest.mark.parametrize(("importer", "forbidden", "why"), [
    ("executor.metadata.readers", "executor.metadata.extractor", "readers never import the extractor"),
    ("executor.metadata", "executor.payload", "extraction never imports payload"),
    ("executor.metadata", "executor.storage", "extraction never imports storage"),
    ("executor.storage", "executor.payload", "storage never imports payload"),
    ("executor.storage", "executor.metadata.extractor", "the writer never re-reads files"),
    ("executor.ops", "executor.cli", "ops never imports the cli"),
    ("executor.", "executor.api", "nothing in the core imports the API"),
    ("executor.", "executor.cli", "nothing in the core imports the CLI"),
])
def test_boundaries(importer, forbidden, why):
    graph = internal_graph()
    edges = [(m, d) for m, deps in graph.items() if m.startswith(importer) for d in deps
             if (d == forbidden or d.startswith(forbidden + "."))]
    if importer == "executor.":  # the core: everything except the faces themselves
        faces = ("executor.api", "executor.api_server", "executor.cli", "executor.main", "executor.ops")
        edges = [(m, d) for m, d in edges if not m.startswith(faces)]
    assert not edges, f"{why}: {edges}"


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_spark_azure_or_http(module):
    if module not in MODULES:
        pytest.skip(f"{module} does not exist")
    heavy = [(n, line) for n, line in imported_names(module, MODULES[module]) if n.split(".")[0] in HEAVY]
    assert not heavy, f"{module} is pure but imports {heavy}"


def test_only_the_entry_points_read_the_environment():
    readers = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            reads = (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                     and node.value.id == "os" and node.attr in ("environ", "getenv", "environb"))
            reads = reads or (isinstance(node, ast.ImportFrom) and node.module == "os"
                              and any(a.name in ("environ", "getenv") for a in node.names))
            if reads and name not in ENV_READERS:
                readers.append(f"{name}:{node.lineno}")
    assert not readers, f"only {sorted(ENV_READERS)} read os.environ; also read in: {readers}"


def test_every_nuvyn_variable_is_read_through_the_typed_settings():
    """`env.get("NUVYN_...")` / `env["NUVYN_..."]` only in executor/settings.py: every setting is a typed
    field (with its description, checked against the docs by test_docs.py). Writing a child's
    environment (the API's local launcher) is not reading."""
    readers = []
    for name, path in MODULES.items():
        if name == "executor.settings":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            key = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "get", "pop", "getenv") and node.args:
                key = node.args[0]
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.startswith("NUVYN_"):
                readers.append(f"{name}:{node.lineno} {key.value}")
    assert not readers, f"read outside the typed settings: {readers}"
