"""The package layout: imports run one way, no cycles, no private names across packages, and the
0.1 module paths still import (for one release)."""

from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: each part of the project and the parts it may import (besides itself)
ALLOWED = {
    "mixing.engine": set(),
    "mixing": {"mixing.engine"},  # mixing/__init__.py, cli.py, plotting.py, _moved.py
    "mixing.sweep": {"mixing", "mixing.engine"},
    "mixing.learned": {"mixing", "mixing.engine", "mixing.sweep"},
    "mixing.lm": {"mixing", "mixing.engine", "mixing.sweep", "mixing.learned"},
    "proofs": {"mixing", "mixing.engine", "mixing.sweep"},
    "figures": {"mixing", "mixing.engine", "mixing.sweep", "mixing.learned", "mixing.lm", "proofs"},
}


def part(module: str) -> str:
    """The part of the layout a module belongs to (``python -m mixing`` runs the sweep)."""
    if module in ("mixing.__main__", "mixing.plot"):  # python -m mixing, python -m mixing.plot
        return "mixing.sweep"
    for name in sorted(ALLOWED, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            if (
                name == "mixing"
                and module.count(".") >= 1
                and module.split(".")[1] in ("engine", "sweep", "learned", "lm")
            ):
                continue
            return name
    raise AssertionError(module)


def modules():
    for top in ("mixing", "proofs", "figures"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            yield ".".join(parts), is_pkg, path


def imports(module: str, is_pkg: bool, path: Path):
    """(imported module, names, line) of every import in the file, lazy ones included, with
    relative imports resolved; names are those of ``from X import a, b``."""
    package = module if is_pkg else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield target, [a.name for a in node.names], node.lineno


def project(target: str) -> bool:
    return target.split(".")[0] in ("mixing", "proofs", "figures")


def submodule(target: str, name: str, known: set) -> str:
    """``target.name`` when that is a module of the project (``from pkg import module``)."""
    full = f"{target}.{name}"
    return full if full in known else target


def graph():
    mods = list(modules())
    known = {m for m, _, _ in mods}
    edges = {}
    for mod, is_pkg, path in mods:
        for target, names, line in imports(mod, is_pkg, path):
            if not project(target):
                continue
            for t in {submodule(target, n, known) for n in names} or {target}:
                edges.setdefault(mod, []).append((t, names, line, path))
    return known, edges


def test_imports_run_one_way():
    _, edges = graph()
    bad = []
    for mod, outs in edges.items():
        src = part(mod)
        for target, _, line, path in outs:
            dst = part(target)
            if dst != src and dst not in ALLOWED[src]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {src} imports {target} ({dst})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_private_names_across_parts():
    _, edges = graph()
    bad = []
    for mod, outs in edges.items():
        for target, names, line, path in outs:
            if part(target) == part(mod):
                continue
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {', '.join(private)} from {target}")
    assert not bad, "private names used across parts:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules():
    known, edges = graph()
    adj = {m: sorted({t for t, *_ in edges.get(m, []) if t in known and t != m}) for m in known}
    # a package's __init__ importing its own submodules (re-exports) is not a cycle of design
    for m in adj:
        adj[m] = [t for t in adj[m] if not t.startswith(m + ".")]
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in adj[m]:
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(adj):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_layout_test_sees_an_upward_import(tmp_path, monkeypatch):
    # the rule can fail: an engine module that imports the sweep is reported
    fake = tmp_path / "mixing" / "engine"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from ..sweep import grid\n")
    got = list(imports("mixing.engine.bad", False, fake / "bad.py"))
    assert got[0][0] == "mixing.sweep"
    assert part("mixing.sweep.grid") not in ALLOWED[part("mixing.engine.bad")]


@pytest.mark.parametrize(
    "old, new",
    [
        ("mixing.mechanisms", "mixing.engine.mechanisms"),
        ("mixing.measures", "mixing.engine.measures"),
        ("mixing.kernels.cpu", "mixing.engine.kernels.cpu"),
        ("mixing.executors", "mixing.sweep.executors"),
        ("mixing.learned.generators", "mixing.engine.generators"),
        ("mixing.results", "mixing.sweep.results"),
        ("mixing.stats", "mixing.engine.stats"),
        ("mixing.forecast", "mixing.engine.forecast"),
    ],
)
def test_old_paths_import_the_same_module_with_a_warning(old, new):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(new)
    assert mod.__spec__.name == new
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)


def test_old_from_imports_still_work():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from mixing import mechanisms
        from mixing.sweep import main
    from mixing.engine import mechanisms as new
    from mixing.sweep.command import main as new_main

    assert mechanisms is new and main is new_main
