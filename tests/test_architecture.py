"""The one-way import rule of docs/architecture.md, checked on every import in the source tree
(function-local imports included), so a change that breaks it fails here."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("campaigns", "surrogates", "planner", "dashboard")
#: Subpackages of planner/ that use the core and are never used by it.
ROOMS = ("backtest", "simulation", "cell", "reports", "cli", "api")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(source: str) -> set[str]:
    """Every absolute module name a source file imports (``from a.b import c`` gives ``a.b``
    and ``a.b.c``: ``c`` may be a submodule)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names = _imports(path.read_text(encoding="utf-8"))
            graph[_module(path)] = {n for n in names if n.split(".")[0] in PACKAGES}
    return graph


def _room(module: str) -> str:
    """``core`` for planner's top-level modules, else the room (``backtest`` …)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else "core"


def allowed(src: str, dst: str) -> bool:
    """Whether module ``src`` may import ``dst`` (both dotted names)."""
    a, b = src.split(".")[0], dst.split(".")[0]
    if a == b and a != "planner":
        return True
    if a == "campaigns" or a == "surrogates":
        return False  # the two bottom packages import nothing of the others
    if a == "planner":
        if b in ("campaigns", "surrogates"):
            return True
        if b == "dashboard":
            return False
        here, there = _room(src), _room(dst)
        if there == "core" or here == there:
            return True
        if here == "cli":
            return True  # the console script sits on top of every room
        return here == "api" and there != "cli"  # the facade uses the rooms, never the CLI
    if a == "dashboard":
        if b == "surrogates":
            return dst.startswith("surrogates.errors")  # to show a model's error and hint
        return b in ("campaigns", "dashboard") or (b == "planner" and _room(dst) != "cli")
    return False


def test_the_rule_itself_can_fail() -> None:
    assert not allowed("campaigns.store", "planner.weekly")
    assert not allowed("surrogates.gp", "campaigns.spec")
    assert not allowed("planner.propose", "planner.backtest.strategies")
    assert not allowed("planner.backtest.harness", "planner.simulation.demo")
    assert not allowed("dashboard.views.plate", "planner.cli.core")
    assert allowed("planner.backtest.strategies", "planner.propose")
    assert allowed("planner.cli.lab", "planner.simulation.demo")


def test_imports_point_one_way() -> None:
    broken = sorted(f"{src} imports {dst}" for src, dsts in _graph().items()
                    for dst in dsts if not allowed(src, dst))
    assert broken == [], "\n".join(broken)


@pytest.mark.parametrize("room", ["backtest", "simulation", "cell", "reports"])
def test_no_import_cycle_inside_a_room(room: str) -> None:
    graph = _graph()
    prefix = f"planner.{room}"
    nodes = {m for m in graph if m == prefix or m.startswith(prefix + ".")}
    edges = {m: {d for d in graph[m] if d in nodes and d != m and d != prefix} for m in nodes}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                cycle.extend([*path, node, nxt])
                return True
            if nxt not in state and visit(nxt, [*path, node]):
                return True
        state[node] = 2
        return False

    for node in sorted(nodes):
        if node not in state and visit(node, []):
            break
    assert not cycle, " -> ".join(cycle)
