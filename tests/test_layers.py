"""The package's modules import each other along the data flow only: no import cycles, counting
the imports inside functions too (a lazy import still ties two modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

import tunesmith

ROOT = Path(tunesmith.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every tunesmith module that ``path`` imports, anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in candidates if c in modules and c != name}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles() -> None:
    files = sorted(ROOT.rglob("*.py"))
    modules = {module_name(p) for p in files}
    # A package's __init__ gathering its own submodules is not a dependency of those submodules.
    graph = {module_name(p): imports_of(p, modules) for p in files}
    for name in graph:
        graph[name] = {m for m in graph[name] if not (name.startswith(m + ".") and m != "tunesmith")}
    graph["tunesmith"] = set()  # the top-level package only re-exports names lazily
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
