"""The package's layout: imports flow one way (no cycle among ``src/wildfer``'s modules, and the
rooms of predict import each other downward only) and no folder holds more than a fifth of its lines.

Imports are read from the source with :mod:`ast`, none is run. Every import counts, at module
level or inside a function (a lazy import is still a dependency): ``import a.b`` imports ``a.b``;
``from X import n`` imports ``X`` and, where ``n`` is a submodule of ``X``, ``X.n``; relative
imports are resolved against the importing module. The packages above a module that Python runs
first (``a`` and ``a.b`` for ``import a.b.c``) are not counted, nor is ``from . import n`` counted
as importing the package it is written in: that package is already running.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "wildfer"
MOST_SHARE = 0.20  # of the package's lines, in any one folder


def modules(src: Path = SRC) -> dict[str, Path]:
    """``{dotted name: file}`` for every module of the package (a package by its ``__init__.py``)."""
    found = {}
    for p in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(p.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = p
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module ``name`` (at ``path``) imports (module docstring)."""
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]  # the package it is in
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            subs = {f"{base}.{a.name}" for a in node.names} & known
            found |= subs
            running = here == base or here.startswith(base + ".")
            if not (running and len(subs) == len(node.names)):
                found.add(base)
    return {m for m in found if m in known and m != name}


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    mods = modules(src)
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """Per strongly connected group of modules (Tarjan): one cycle through it, as the path
    ``[a, b, ..., a]``, and the whole group; [] when imports flow one way."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # the package is a few hundred modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [(_one_cycle(graph, g), g) for g in groups]


def _one_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v] & group):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                todo.append(w)
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group always has one


def folder_lines(src: Path = SRC) -> tuple[dict[str, int], int]:
    """Lines of Python per folder of the package (a folder with everything below it; the
    package's own top-level modules as ``wildfer/*.py``) and in all."""
    root = src / PACKAGE
    per: dict[str, int] = {}
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        key = f"{PACKAGE}/{rel.parts[0]}/" if len(rel.parts) > 1 else f"{PACKAGE}/*.py"
        per[key] = per.get(key, 0) + len(p.read_text().splitlines())
    return per, sum(per.values())


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(
        " -> ".join(c) + (f" (one of the cycles among {', '.join(sorted(g))})" if len(g) > len(c) - 1 else "")
        for c, g in found)


def test_no_folder_holds_more_than_a_fifth_of_the_lines():
    per, total = folder_lines()
    big = {k: f"{n} of {total} lines ({n / total:.0%})" for k, n in per.items() if n > MOST_SHARE * total}
    assert not big, f"folders over {MOST_SHARE:.0%} of the package: {big}"


# The rooms of predict, bottom up, and who may import each (their __init__ docstrings say the same):
# the frame loop knows nothing of files written or of how a run is spread; the writers nothing of
# the runners; only the entry points start a run. Face geometry is the floor under them all.
NEVER = {
    "wildfer.geometry": ("wildfer.",),  # but wildfer.errors (ALLOWED)
    "wildfer.pipeline": ("wildfer.outputs", "wildfer.runners", "wildfer.train", "wildfer.eval", "wildfer.serve"),
    "wildfer.outputs": ("wildfer.runners", "wildfer.train", "wildfer.eval", "wildfer.serve"),
    "wildfer.detectors": ("wildfer.outputs", "wildfer.runners", "wildfer.models", "wildfer.data"),
}
ALLOWED = {"wildfer.geometry": ("wildfer.geometry", "wildfer.errors")}
RUNNERS_USERS = ("wildfer.runners", "wildfer.cli", "wildfer.serve")


def _under(name: str, prefixes) -> bool:
    return any(name == p.rstrip(".") or name.startswith(p if p.endswith(".") else p + ".") for p in prefixes)


def test_the_predict_rooms_import_one_way():
    graph = import_graph()
    wrong = {f"{a} -> {b}" for a, bs in graph.items() for b in bs for room, never in NEVER.items()
             if _under(a, [room]) and _under(b, never) and not _under(b, ALLOWED.get(room, ()))}
    wrong |= {f"{a} -> {b}" for a, bs in graph.items() for b in bs
              if _under(b, ["wildfer.runners"]) and not _under(a, RUNNERS_USERS)}
    assert not wrong, "imports against the direction of the rooms:\n" + "\n".join(sorted(wrong))


def test_the_reader_sees_every_kind_of_import(tmp_path):
    """The rules of the module docstring, on a package of five modules."""
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("__version__ = '0'\n")
    (pkg / "low.py").write_text("X = 1\n")
    (pkg / "sub" / "__init__.py").write_text("from . import a  # its own submodule: not the package itself\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from .. import low\n    from ..sub.b import g\n")
    (pkg / "sub" / "b.py").write_text("import wildfer.low\nfrom .. import __version__\ndef g():\n    from . import a\n")
    graph = import_graph(tmp_path)
    assert graph == {"wildfer": set(), "wildfer.low": set(), "wildfer.sub": {"wildfer.sub.a"},
                     "wildfer.sub.a": {"wildfer.low", "wildfer.sub.b"},
                     "wildfer.sub.b": {"wildfer", "wildfer.low", "wildfer.sub.a"}}
    assert cycles(graph) == [(["wildfer.sub.a", "wildfer.sub.b", "wildfer.sub.a"], {"wildfer.sub.a", "wildfer.sub.b"})]
    per, total = folder_lines(tmp_path)
    assert per == {"wildfer/*.py": 2, "wildfer/sub/": 8} and total == 10
