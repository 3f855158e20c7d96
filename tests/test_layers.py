"""The layers of the code base, enforced: each package imports only the layers below it (or its own).

Lowest first: planner → fallback_cpu → gpu_exec.engine and gpu_exec.cudf → gpu_exec.executor →
scheduler's query layer and scheduler.protocol → gpu_exec.api → scheduler.service →
gpu_exec.testing → gpu_exec.cli. Every import counts: module level, ``TYPE_CHECKING`` blocks and
imports inside functions alike, since a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("planner", "fallback_cpu", "gpu_exec", "scheduler")

# (module prefix, rank): the longest matching prefix decides a module's layer.
LAYERS: tuple[tuple[str, int], ...] = (
    ("planner", 0),
    ("fallback_cpu", 1),
    ("gpu_exec.engine", 2),
    ("gpu_exec.cudf", 2),
    ("gpu_exec.executor", 3),
    ("scheduler", 4),
    ("scheduler.protocol", 4),
    ("gpu_exec", 5),  # the package facade (gpu_exec/__init__.py: connect, the error classes)
    ("gpu_exec.api", 5),
    ("scheduler.service", 6),
    ("scheduler.deploy", 6),
    ("gpu_exec.testing", 7),
    ("gpu_exec.cli", 8),
)


def layer_of(module: str) -> tuple[str, int]:
    """The layer (its prefix and rank) a dotted module name belongs to."""
    best = max((p for p in LAYERS if module == p[0] or module.startswith(p[0] + ".")),
               key=lambda p: len(p[0]), default=None)
    if best is None:
        raise ValueError(f"{module} is in no layer")
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every project import in the file, relative imports resolved."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # `from gpu_exec.cli import batch` imports gpu_exec.cli.batch: judge the submodule
            # when the name is one, else the package itself.
            for alias in node.names:
                candidate = f"{name}.{alias.name}"
                as_path = ROOT.joinpath(*candidate.split("."))
                found.append((node.lineno, candidate if as_path.with_suffix(".py").exists()
                              or as_path.is_dir() else name))
    return [(line, name) for line, name in found if name.split(".")[0] in PACKAGES]


def source_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def violations() -> list[str]:
    found = []
    for path in source_files():
        importer = module_name(path)
        own_prefix, own_rank = layer_of(importer)
        for line, imported in imported_modules(path):
            prefix, rank = layer_of(imported)
            if rank > own_rank:
                found.append(f"{path.relative_to(ROOT)}:{line}: {importer} ({own_prefix}) imports "
                             f"{imported} ({prefix}), a higher layer")
    return found


def test_every_module_has_a_layer() -> None:
    for path in source_files():
        layer_of(module_name(path))  # raises for a module outside every layer


def test_no_module_imports_a_higher_layer() -> None:
    assert violations() == []


def test_the_check_finds_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself: a planner module importing the engine is reported, with its line."""
    fake_root = tmp_path
    for package in PACKAGES:
        (fake_root / package).mkdir()
        (fake_root / package / "__init__.py").write_text("")
    (fake_root / "gpu_exec" / "engine").mkdir()
    (fake_root / "gpu_exec" / "engine" / "__init__.py").write_text("")
    (fake_root / "gpu_exec" / "engine" / "driver.py").write_text("")
    (fake_root / "planner" / "bad.py").write_text("def f():\n    from gpu_exec.engine import driver\n")
    monkeypatch.setitem(globals(), "ROOT", fake_root)
    assert violations() == [
        "planner/bad.py:2: planner.bad (planner) imports gpu_exec.engine.driver (gpu_exec.engine), "
        "a higher layer"
    ]


def test_no_module_is_over_800_lines() -> None:
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in source_files()
            if "proto" not in p.parts and (n := len(p.read_text().splitlines())) > 800]
    assert long == []
