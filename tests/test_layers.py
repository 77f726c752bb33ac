"""The import graph: no module of assistant, ingest or evals imports itself back through others.

Every import counts, a function-level (lazy) one and one under ``TYPE_CHECKING`` too: a cycle that
only a lazy import keeps from failing at import time is still two modules that cannot be understood
apart. The layers between modules are import-linter's contracts (``[tool.importlinter]`` in
pyproject.toml, ``lint-imports``), which name every module.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
import pytest

PACKAGES = ("assistant", "ingest", "evals")
ROOT = Path(__file__).resolve().parent.parent


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(root: str) -> None:  # iterative: no recursion limit on a long chain
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, todo = work[-1]
            for nxt in todo:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.find_modules_directly_imported_by(nxt)))))
                    break
                if nxt in on_stack:
                    low[module] = min(low[module], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_itself_back(package: str) -> None:
    graph = grimp.build_graph(package)
    found = cycles(graph)
    detail = [
        f"{' <-> '.join(c)}: "
        + "; ".join(f"{a} -> {b}" for a in c for b in sorted(graph.find_modules_directly_imported_by(a)) if b in c)
        for c in found
    ]
    assert not found, "import cycles:\n" + "\n".join(detail)


def test_cycle_finder_sees_a_lazy_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c", "p.d"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")  # a -> b -> c -> a
    graph.add_import(importer="p.d", imported="p.a")
    assert cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_every_layers_contract_names_every_module() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = {c["containers"][0]: c for c in config["contracts"] if c["type"] == "layers" and "containers" in c}
    assert set(layered) == set(PACKAGES)
    for package, contract in layered.items():
        assert contract.get("exhaustive") is True, f"{package}: lint-imports should fail on a module it does not name"
