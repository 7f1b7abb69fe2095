"""Fails on an import cycle among pyactors' modules (imports under
TYPE_CHECKING and inside functions count too: a cycle is a cycle) and on a
source file over the line limit outside tests/, and on two test modules of
one name (pytest imports tests by their basename: the second one fails to
collect and the whole run stops).

    python3 .ci/check_layout.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pyactors"
MAX_LINES = 800
# Where the line limit holds: the package, the crate and the benchmarks.
LIMITED = ("pyactors", "rust", "bench")
SUFFIXES = (".py", ".rs", ".js", ".pyi")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The pyactors modules `path` imports, wherever the import statement is."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b` imports the module a.b when there is one,
            # else the name b from a.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def main() -> int:
    files = sorted((ROOT / PACKAGE).rglob("*.py"))
    # The extension is a module too (its stub stands for it).
    modules = {module_name(path) for path in files} | {f"{PACKAGE}._core"}
    graph = {module_name(path): imports(path, modules) for path in files}
    graph[f"{PACKAGE}._core"] = set()
    # A package's __init__ importing its own submodules is how it re-exports;
    # the cycle that matters is a submodule importing back up.
    problems = [
        "import cycle: " + " <-> ".join(component) for component in cycles(graph)
    ]
    for top in LIMITED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and "target" not in path.parts:
                lines = len(path.read_text().splitlines())
                if lines > MAX_LINES:
                    problems.append(
                        f"{path.relative_to(ROOT)}: {lines} lines (at most {MAX_LINES})"
                    )
    test_modules: dict[str, Path] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        earlier = test_modules.setdefault(path.name, path)
        if earlier != path:
            problems.append(
                f"{path.relative_to(ROOT)}: a test module named as {earlier.relative_to(ROOT)}"
            )
    for problem in problems:
        print(problem)
    print(f"{len(modules)} modules, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
