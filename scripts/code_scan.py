"""A quick health scan of the code tree (c2am/ and stages/), with the standard library's ast only.

Prints the longest function, every module over the line limit, every import cycle between the tree's modules
(imports inside functions count too; relative imports are resolved) and the line counts of the plumbing files
(configuration schema, settings, CLI, the workflow's common rules, config.yaml).

    python scripts/code_scan.py            # readable report
    python scripts/code_scan.py --json     # the same as JSON
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("c2am", "stages")
PLUMBING = ("c2am/config.schema.yaml", "c2am/config.py", "c2am/settings.py", "c2am/cli.py",
            "workflow/rules/common.smk", "config.yaml")
MAX_MODULE_LINES = 300


def find_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file for every .py file under the packages (a package is its __init__.py)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve_from(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names: relative levels count up from the importing package."""
    if not node.level:
        return node.module or ""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _in_tree(target: str, modules: dict[str, Path]) -> str | None:
    """The deepest module of the tree that `target` names or lies in, else None (an outside import)."""
    parts = target.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """Modules of the tree that module `name` imports (anywhere in the file) -> line of the first such import.

    `from pkg import x` counts as importing pkg.x when that is a module of the tree, else pkg."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(name, path, node)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            module = _in_tree(target, modules)
            if module is not None and module != name:
                found[module] = min(found.get(module, node.lineno), node.lineno)
    return found


def import_graph(root: Path, packages=PACKAGES) -> dict[str, dict[str, int]]:
    """module -> {imported module of the tree: line of the import}."""
    modules = find_modules(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted, in order of their first module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
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
                    components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, {})))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(components)


def _shortest_cycle(graph: dict[str, dict[str, int]], start: str, members: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child in members and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [start]


def find_cycles(root: Path, packages=PACKAGES) -> list[dict]:
    """Every import cycle of the tree: one entry per group of mutually importing modules, with its members and
    one shortest cycle through the first of them as [{"module", "imports", "line"}, ...]."""
    graph = import_graph(root, packages)
    cycles = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        path = _shortest_cycle(graph, component[0], set(component))
        steps = [{"module": a, "imports": b, "line": graph[a][b]} for a, b in zip(path, path[1:])]
        cycles.append({"members": component, "cycle": steps})
    return cycles


def longest_function(root: Path, packages=PACKAGES) -> dict | None:
    """The function (or method) with the most lines, def line to last line, by qualified name."""
    best = None
    for name, path in find_modules(root, packages).items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        todo = [(node, "") for node in tree.body]
        while todo:
            node, prefix = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qualname = prefix + node.name
                todo.extend((child, qualname + ".") for child in node.body)
                if not isinstance(node, ast.ClassDef):
                    lines = node.end_lineno - node.lineno + 1
                    if best is None or lines > best["lines"]:
                        best = {"function": f"{name}.{qualname}", "file": str(path.relative_to(root)),
                                "line": node.lineno, "lines": lines}
            else:
                todo.extend((child, prefix) for child in ast.iter_child_nodes(node))
    return best


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def long_modules(root: Path, limit: int = MAX_MODULE_LINES, packages=PACKAGES) -> list[dict]:
    """Modules over `limit` lines, longest first."""
    sizes = [{"file": str(path.relative_to(root)), "lines": _line_count(path)}
             for path in find_modules(root, packages).values()]
    return sorted((s for s in sizes if s["lines"] > limit), key=lambda s: (-s["lines"], s["file"]))


def plumbing_lines(root: Path) -> dict:
    """Line counts of the plumbing files (None for a missing one) and their total."""
    files = {name: _line_count(root / name) if (root / name).is_file() else None for name in PLUMBING}
    return {"files": files, "total": sum(n for n in files.values() if n is not None)}


def scan(root: Path, limit: int = MAX_MODULE_LINES) -> dict:
    return {"longest_function": longest_function(root), "modules_over_limit": long_modules(root, limit),
            "module_line_limit": limit, "import_cycles": find_cycles(root), "plumbing": plumbing_lines(root)}


def report(result: dict) -> str:
    """The scan as readable text."""
    out = []
    fn = result["longest_function"]
    if fn:
        out.append(f"longest function: {fn['function']} ({fn['file']}:{fn['line']}, {fn['lines']} lines)")
    modules = result["modules_over_limit"]
    out.append(f"modules over {result['module_line_limit']} lines: {len(modules)}")
    out += [f"  {m['lines']:5d}  {m['file']}" for m in modules]
    cycles = result["import_cycles"]
    out.append(f"import cycles: {len(cycles)}")
    for c in cycles:
        out.append(f"  {' <-> '.join(c['members'])}")
        out += [f"    {s['module']} imports {s['imports']} (line {s['line']})" for s in c["cycle"]]
    out.append("plumbing lines:")
    for name, n in result["plumbing"]["files"].items():
        out.append(f"  {'missing' if n is None else n:>7}  {name}")
    out.append(f"  {result['plumbing']['total']:7d}  total")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    parser.add_argument("--max-lines", type=int, default=MAX_MODULE_LINES, help="module length to report above")
    parser.add_argument("--json", action="store_true", help="print the scan as JSON")
    args = parser.parse_args(argv)
    result = scan(args.root.resolve(), args.max_lines)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
