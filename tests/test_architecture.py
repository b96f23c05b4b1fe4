"""The import structure holds: no two modules import each other, directly or around a loop (lazy imports
included). The package layers themselves are checked by `lint-imports` (pyproject.toml) in `make test`."""

from __future__ import annotations

import grimp


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_loop_and_passes_a_chain() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_module_import_cycles() -> None:
    graph = grimp.build_graph("aar")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert len(edges) > 100  # the whole package was read
    assert _cycles(edges) == []


def test_no_module_writes_the_process_environment() -> None:
    """Settings travel as values (aar.execution_settings) and child environments are built as dicts: no module
    of src/ assigns to, updates or deletes from ``os.environ`` (a setdefault of the offline flags at the CLI's
    entry is the one allowed write: it only fills what the user left unset)."""
    import ast
    from pathlib import Path

    import aar

    offenders = []
    for path in sorted(Path(aar.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = (node.targets if isinstance(node, ast.Assign) else [node.target]
                       if isinstance(node, ast.AugAssign) else node.targets if isinstance(node, ast.Delete) else [])
            writes = [t for t in targets if isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ"]
            calls = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                     and ast.unparse(node.func.value) == "os.environ" and node.func.attr in ("update", "pop", "clear"))
            if writes or calls or (isinstance(node, ast.Call) and ast.unparse(node.func) == "os.putenv"):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
