"""Packages with lazy exports (``omegafarm._lazy.lazy_exports``) list each export three times:
in ``__all__``, in the ``TYPE_CHECKING`` imports (what mypy and readers see) and in the run-time
map handed to ``lazy_exports``. The three must agree, name for name and module for module, and
every name must resolve at run time."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def _lazy_packages() -> list[Path]:
    return sorted(
        p
        for p in (SRC / "omegafarm").rglob("__init__.py")
        if "lazy_exports(" in p.read_text(encoding="utf-8")
    )


def _tables(path: Path) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(TYPE_CHECKING imports, lazy map, __all__) of one package, as name -> module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typed: dict[str, str] = {}
    lazy: dict[str, str] = {}
    exported: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, ast.unparse(stmt)
                for alias in stmt.names:
                    assert alias.asname in (None, alias.name), f"{path}: renamed {alias.name}"
                    typed[alias.name] = stmt.module
            for stmt in node.orelse:
                call = stmt.value if isinstance(stmt, ast.Assign) else None
                assert isinstance(call, ast.Call) and ast.unparse(call.func) == "lazy_exports"
                table = ast.literal_eval(call.args[1])
                for module, names in table.items():
                    for name in names:
                        assert name not in lazy, f"{path}: {name} listed twice"
                        lazy[name] = module
        elif isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__":
            exported = list(ast.literal_eval(node.value))
    return typed, lazy, exported


PACKAGES = _lazy_packages()


def test_the_lazy_packages_are_found() -> None:
    names = {p.parent.name for p in PACKAGES}
    assert {"api", "bots", "core", "education", "exchange", "security", "store"} <= names


@pytest.mark.parametrize("path", PACKAGES, ids=lambda p: str(p.parent.relative_to(SRC)))
def test_all_the_type_checking_imports_and_the_lazy_map_agree(path: Path) -> None:
    typed, lazy, exported = _tables(path)
    assert lazy, f"{path}: no lazy map found"
    assert len(exported) == len(set(exported)), f"{path}: __all__ lists a name twice"
    assert typed == lazy, "TYPE_CHECKING imports and the lazy map differ"
    assert sorted(exported) == sorted(lazy), "__all__ and the lazy map differ"


@pytest.mark.parametrize("path", PACKAGES, ids=lambda p: str(p.parent.relative_to(SRC)))
def test_every_lazy_export_resolves(path: Path) -> None:
    package = ".".join(path.parent.relative_to(SRC).parts)
    module = importlib.import_module(package)
    _, lazy, _ = _tables(path)
    for name, source in lazy.items():
        assert getattr(module, name) is getattr(importlib.import_module(source), name)
    assert set(lazy) <= set(dir(module))
