"""Package exports imported on first use (PEP 562), so importing one submodule stays cheap.

Why: ``import omegafarm.exchange.config`` runs ``omegafarm/exchange/__init__.py`` first; when
that imported every export, reading the settings pulled in ccxt, aiohttp, redis and FastAPI and
``omega --help`` took seconds. Each package keeps its exports in a ``TYPE_CHECKING`` block (what
mypy and readers see) and hands the same table to :func:`lazy_exports` for run time.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``{module: (name, ...)}``."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:  # the PEP 562 hook
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value  # next lookups skip this hook
        return value

    def __dir__() -> list[str]:  # the PEP 562 hook
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
