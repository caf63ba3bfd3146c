"""The package layout rule: ``companion``, ``cloud`` and ``simulator`` never import each other.

Only the ``cardio`` package (the command) wires them together. Every import statement is
checked, including those inside functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: package -> top-level packages it must never import
FORBIDDEN = {
    "companion": {"cloud", "simulator", "cardio", "training"},
    "cloud": {"companion", "simulator", "cardio", "cloud_client", "training"},
    "simulator": {"companion", "cloud", "cardio", "cloud_client", "training"},
    "cloud_client": {"companion", "cloud", "simulator", "cardio"},
    "ecg": {"companion", "cloud", "simulator", "cardio", "cloud_client", "training"},
    "firmware": {"companion", "cloud", "simulator", "cardio", "cloud_client", "ecg", "training"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Top-level package names imported anywhere in *path*, with their line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add((arg.value.split(".")[0], node.lineno))
    return found


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in {"import_module", "__import__"} and bool(node.args)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_none_of_its_forbidden_neighbours(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    offences = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in files
        for name, line in sorted(imported_packages(path))
        if name in FORBIDDEN[package]
    ]
    assert offences == []


def test_the_checker_sees_lazy_and_dynamic_imports(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "import os\n"
        "def f():\n    from cloud.app import create_app\n"
        "def g():\n    import importlib; importlib.import_module('simulator.harness')\n",
        encoding="utf-8",
    )
    assert {name for name, _ in imported_packages(src)} == {"os", "cloud", "simulator", "importlib"}


def test_cardio_wires_the_pieces() -> None:
    """The wiring the rule pushes out of the companion lives in ``cardio``."""
    wired = {name for path in (REPO / "cardio").rglob("*.py") for name, _ in imported_packages(path)}
    assert {"companion", "cloud", "simulator"} <= wired
