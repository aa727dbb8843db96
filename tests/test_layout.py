"""The code stays readable in pieces: no module over 400 lines, no function over 60 lines
without a ``# Long:`` comment saying why, no import cycle between modules, and no production
module imports the simulator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
#: Where these limits hold: all of archiver/ and tests/.
CHECKED = ["archiver", "tests"]
#: The simulator and what serves it may import it; nothing else in archiver/ may.
SIMULATOR_USERS = ("archiver/simulator/", "archiver/cli/simulate.py", "archiver/cli/demo.py")


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for name in paths:
        path = ROOT / name
        out.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return out


def oversized(path: Path) -> list[str]:
    """What in ``path`` breaks the size rules, one line each."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found = []
    if len(lines) > MAX_MODULE_LINES:
        found.append(f"{path.name}: {len(lines)} lines")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            body = lines[node.lineno - 1 : node.end_lineno]
            if len(body) > MAX_FUNCTION_LINES and not any("# Long:" in ln for ln in body):
                found.append(f"{path.name}:{node.lineno} {node.name}: {len(body)} lines")
    return found


@pytest.mark.parametrize("path", _files(CHECKED), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path: Path) -> None:
    assert oversized(path) == []


def test_the_checker_finds_a_long_function_without_a_reason(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    source = tmp_path / "m.py"
    source.write_text(f"def f() -> None:\n{body}\n")
    assert oversized(source) == ["m.py:1 f: 61 lines"]
    source.write_text(f"def f() -> None:\n    # Long: a table.\n{body}\n")
    assert oversized(source) == []


def test_no_production_module_imports_the_simulator() -> None:
    offenders = []
    for path in sorted((ROOT / "archiver").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(SIMULATOR_USERS):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            if any(n == "archiver.simulator" or n.startswith("archiver.simulator.") for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Which modules of ``package`` (a directory below ``root``) each of its modules imports:
    every import statement counts, at module level, under ``TYPE_CHECKING`` or in a function.

    ``from a.b import c`` is an import of ``a.b.c`` when that is a module, else of ``a.b``.
    """
    paths = {_module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in paths)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    found.add(target if target in paths else base)
        graph[name] = {m for m in found if m in paths and m != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another, round and round (sorted names)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []
    for start in sorted(graph):  # Tarjan's strongly connected components, without recursion
        if start in order:
            continue
        work = [(start, iter(sorted(graph[start])))]
        order[start] = low[start] = len(order)
        stack.append(start)
        while work:
            node, targets = work[-1]
            nxt = next((t for t in targets if t not in order or t in stack), None)
            if nxt is not None:
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                group = []
                while True:
                    member = stack.pop()
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return sorted(cycles)


def test_no_import_cycle_between_modules() -> None:
    assert import_cycles(import_graph(ROOT, "archiver")) == []


def test_the_cycle_checker_finds_a_planted_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub.c import C\n"
    )
    (pkg / "sub" / "c.py").write_text("def f() -> None:\n    from .. import a\n")
    (pkg / "d.py").write_text("import pkg.a\n")  # imports into the cycle, not part of it
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.sub.c"] == {"pkg.a"}
    assert import_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.sub.c"]]
    (pkg / "sub" / "c.py").write_text("def f() -> None:\n    pass\n")
    assert import_cycles(import_graph(tmp_path, "pkg")) == []
