"""Typer's rich help renderer, imported without the two rich modules it never uses for us.

``typer.rich_utils`` imports ``rich.markdown`` (markdown-it, pygments) and ``rich.traceback``
(pygments) at its top, for ``rich_markup_mode="markdown"`` and for pretty tracebacks. The
``omega`` help pages use neither (markup mode "rich", ``pretty_exceptions_enable=False``), yet
the two imports were about a third of ``omega backtest --help``. :func:`import_rich_help`
imports ``typer.rich_utils`` with stand-ins for those two names, which import the real class
on first use (a call or an attribute), so the renderer behaves as before; the stand-in modules
are removed at once, so any later ``import rich.markdown`` gets the real one.
tests/cli/test_startup.py checks that the help pages are the same with and without this.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

_DEFERRED = (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback"))


class _Later(type):
    """Metaclass of a stand-in class: calls and attributes go to the real class."""

    _where: tuple[str, str]

    def _real(cls) -> Any:
        module, name = cls._where
        return getattr(importlib.import_module(module), name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(cls._real(), name)


def import_rich_help() -> None:
    """Import ``typer.rich_utils`` (once) without ``rich.markdown`` and ``rich.traceback``."""
    if "typer.rich_utils" in sys.modules:
        return
    stand_ins: dict[str, ModuleType] = {}
    for module_name, name in _DEFERRED:
        if module_name in sys.modules:
            continue  # already paid for: nothing to save
        module = ModuleType(module_name, "stand-in while typer.rich_utils is imported")
        setattr(module, name, _Later(name, (), {"_where": (module_name, name)}))
        stand_ins[module_name] = module
        sys.modules[module_name] = module
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for module_name, module in stand_ins.items():
            if sys.modules.get(module_name) is module:
                del sys.modules[module_name]
