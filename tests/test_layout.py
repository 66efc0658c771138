"""The architecture as a test: every import points down the layers below, and no modules import
each other in a circle. Imports inside functions count too: a lazy import is still a dependency.

Layers, bottom to top (a package may import its own modules and any lower layer):
- shared utilities: the config loader, the artifact store, run tracking; content fingerprints;
- the stages, in data-flow order: data, models, sae, signals, curriculum, rl (each receives its
  own config section, never the whole experiment);
- the experiment config, which composes the sections;
- launch (the stage graph, local and Slurm execution) and analysis (reports from run folders);
- bench (speed figures), then study tools and the GPU check, then the command line.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS: list[set[str]] = [
    {"saerl.configlib", "saerl.store", "saerl.tracking"},
    {"saerl.fingerprint"},
    {"saerl.data"},
    {"saerl.models"},
    {"saerl.sae"},
    {"saerl.signals"},
    {"saerl.curriculum"},
    {"saerl.rl"},
    {"saerl.config"},
    {"saerl.launch", "analysis"},
    {"saerl.bench"},
    {"saerl.studies", "saerl.gpu_check"},
    {"saerl.cli"},
    {"saerl.__main__"},
]
RANK = {group: i for i, layer in enumerate(LAYERS) for group in layer}
OURS = ("saerl", "analysis")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for top in OURS for p in sorted((ROOT / top).rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[tuple[str, int]]:
    """(module imported, line) for every import of our packages in the file, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(a.name, node.lineno) for a in node.names if a.name.split(".")[0] in OURS}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in OURS:
                continue
            for alias in node.names:  # `from saerl.x import module` imports that module
                sub = f"{target}.{alias.name}"
                found.add((sub if sub in known else target, node.lineno))
    return found


def group(name: str) -> str:
    """The layer unit a module belongs to: its top-level package under saerl, or analysis."""
    parts = name.split(".")
    if parts[0] == "analysis":
        return "analysis"
    return ".".join(parts[:2])


def graph() -> dict[str, set[tuple[str, int]]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def test_every_module_sits_in_a_layer():
    unplaced = sorted({group(m) for m in modules()} - set(RANK) - {"saerl"})
    assert not unplaced, f"add these to a layer in tests/test_layout.py (and the docstring): {unplaced}"


def test_every_import_points_down():
    upward = [
        f"{m}:{line} imports {target} ({group(m)} is layer {RANK[group(m)]}, "
        f"{group(target)} layer {RANK[group(target)]})"
        for m, targets in graph().items()
        if group(m) in RANK
        for target, line in sorted(targets)
        if group(target) != group(m) and group(target) in RANK and RANK[group(target)] >= RANK[group(m)]
    ]
    assert not upward, "imports that point up or sideways:\n" + "\n".join(upward)


def test_no_modules_import_each_other_in_a_circle():
    edges = {m: {t for t, _ in targets if t != m} for m, targets in graph().items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                cycles.append([*path[path.index(t) :], t])
            elif t in edges and not state.get(t):
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(edges):
        if not state.get(m):
            visit(m, [m])
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checks_catch_an_upward_import_and_a_circle(tmp_path, monkeypatch):
    """The checks above are not vacuous: a stage importing the experiment config, and two modules
    importing each other, are both found."""
    pkg = tmp_path / "saerl"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "config.py").write_text("from saerl.data import a\n")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "a.py").write_text("def f():\n    from saerl.config import X\n    from . import b\n")
    (pkg / "data" / "b.py").write_text("from saerl.data import a\n")
    (tmp_path / "analysis").mkdir()
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(AssertionError, match=r"saerl\.data\.a:2 imports saerl\.config"):
        test_every_import_points_down()
    with pytest.raises(AssertionError, match=r"saerl\.data\.a -> saerl\.data\.b -> saerl\.data\.a"):
        test_no_modules_import_each_other_in_a_circle()
