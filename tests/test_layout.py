"""House rules for the code layout, checked from the source (nothing is imported, so a cycle cannot hide
behind import order): no import cycle among our modules, and no module over MAX_LINES lines.

Every import counts, wherever it is: at module level, inside a function (a "lazy" import), or under
``if TYPE_CHECKING:``; each still means one module needs the other, which is the dependency we want to
keep one-way. Cycles are searched across all of PACKAGES together, since a cycle can run through
several packages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "storage", "sandbox")
MAX_LINES = 600
# Modules already over MAX_LINES, with the most lines they may have; shrink them and drop the entry.
KNOWN_OVERSIZED: dict[str, int] = {}


def module_files(package: str, root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package (``__init__.py`` is the package)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a ``from ... import`` names, with relative imports resolved against ``module``."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(path: Path, module: str, known: set[str]) -> Iterator[str]:
    """The modules in ``known`` that this file imports, anywhere in it (ast.walk visits every block)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name`` imports mod
            names = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        else:
            continue
        for name in names:
            # ``import a.b.c`` needs a.b.c; if c is not one of ours (a name in a.b), the nearest module that is.
            # Parent packages are not counted as needed: their __init__ runs, but is no dependency of ours.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


def import_graph(packages: tuple[str, ...], root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules (of these packages) it imports."""
    files = {name: path for package in packages for name, path in module_files(package, root).items()}
    known = set(files)
    return {name: set(imported_modules(path, name, known)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that starts and ends at the same module, or None (depth-first search)."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph[node]):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


# -- the rules --------------------------------------------------------------------------------------------


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(PACKAGES))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_the_line_limit(package: str) -> None:
    too_long = {}
    for path in module_files(package).values():
        name = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > KNOWN_OVERSIZED.get(name, MAX_LINES):
            too_long[name] = lines
    assert not too_long, f"modules over {MAX_LINES} lines (split them along their seams): {too_long}"


# -- the checker itself -----------------------------------------------------------------------------------


def test_finds_cycles_through_lazy_relative_and_type_checking_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .sub import b\n")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import X\n"
    )
    (package / "c.py").write_text("import os\nimport pkg.a\n")
    graph = import_graph(("pkg",), tmp_path)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    (package / "c.py").write_text("X = 1\n")
    assert find_cycle(import_graph(("pkg",), tmp_path)) is None
