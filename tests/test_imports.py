"""The module import graph of nnblocks: no circles at module level, and private names stay inside their package."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "nnblocks"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = _package_of(module).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports executed when the module is imported: top level and inside top-level if/try (not functions, not
    ``if TYPE_CHECKING:``)."""
    out: list[ast.Import | ast.ImportFrom] = []

    def visit(stmts):
        for st in stmts:
            if isinstance(st, (ast.Import, ast.ImportFrom)):
                out.append(st)
            elif isinstance(st, ast.If):
                if not (isinstance(st.test, ast.Name) and st.test.id == "TYPE_CHECKING"):
                    visit(st.body)
                visit(st.orelse)
            elif isinstance(st, ast.Try):
                visit(st.body)
                for h in st.handlers:
                    visit(h.body)
                visit(st.orelse)
                visit(st.finalbody)

    visit(tree.body)
    return out


def _edges() -> list[tuple[str, str, str | None]]:
    """(importer, imported module, imported name or None) for every module-level import inside nnblocks."""
    edges = []
    for module, path in MODULES.items():
        for node in _module_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges += [(module, a.name, None) for a in node.names if a.name.split(".")[0] == "nnblocks"]
                continue
            target = _resolve(module, node)
            if target.split(".")[0] != "nnblocks":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                # "from pkg import mod" imports the submodule mod; "from mod import name" a name of mod
                edges.append((module, sub, None) if sub in MODULES else (module, target, a.name))
    return edges


def _graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(MODULES)
    for importer, imported, _ in _edges():
        if imported in MODULES and imported != importer:
            g.add_edge(importer, imported)
    return g


def _circles() -> list[list[str]]:
    """Import circles that are not a package importing its own submodules (a package's ``__init__`` importing
    a submodule that imports the package's siblings is how every package loads)."""
    g = _graph()
    for importer, imported in list(g.edges):
        if imported.startswith(importer + "."):  # a package's __init__ importing its own submodules
            g.remove_edge(importer, imported)
    return [sorted(c) for c in nx.simple_cycles(g)]


def _private_imports() -> list[str]:
    """``from a.b import _name`` (or ``import a._b``) across package boundaries: the private name of a module
    used outside the package that holds it."""
    offenders = []
    for importer, imported, name in _edges():
        private = name if name is not None and name.startswith("_") else None
        if private is None:
            last = imported.rpartition(".")[2]
            if last.startswith("_") and not last.startswith("__"):
                private, imported = last, imported.rpartition(".")[0]
        if private is None or private.startswith("__"):
            continue
        owner = imported if imported in MODULES and MODULES[imported].name == "__init__.py" else (
            imported.rpartition(".")[0] if imported in MODULES else imported
        )
        if not (importer == owner or importer.startswith(owner + ".")):
            offenders.append(f"{importer} imports {imported}.{private}")
    return sorted(set(offenders))


def test_the_graph_sees_known_imports():
    g = _graph()
    assert g.has_edge("nnblocks.network", "nnblocks.activations")
    assert g.has_edge("nnblocks.robust.sets.network", "nnblocks.robust.sets.exact")
    assert len(MODULES) > 20


def test_no_import_circle_at_module_level():
    assert _circles() == []


def test_the_robust_exact_method_does_not_import_the_network_set():
    g = _graph()
    assert not g.has_edge("nnblocks.robust.sets.exact", "nnblocks.robust.sets.network")
    text = (PACKAGE / "robust" / "sets" / "exact.py").read_text()
    assert "network_set" not in text and "sets.network" not in text and "._worst_case_patterns" not in text


def test_the_pattern_method_does_not_import_the_network_set():
    g = _graph()
    assert not g.has_edge("nnblocks.robust.sets.patterns", "nnblocks.robust.sets.network")
    text = (PACKAGE / "robust" / "sets" / "patterns.py").read_text()
    assert "network_set" not in text and "sets.network import" not in text


def test_no_private_name_imported_from_outside_its_package():
    assert _private_imports() == []
