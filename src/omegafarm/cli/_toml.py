"""Settings as TOML text for ``omega config show`` (what ``--config FILE`` reads back).

A small writer for the JSON-shaped data of the settings tree: tables for sections (``[api]``,
``[exchange.paper]``), arrays of tables for lists of records (``[[alerts.rules]]``), inline
arrays for lists of values. TOML has no null, so an unset value is written as a comment
(``# url = (unset)``): reading the text back gives the same settings minus the unset keys.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items() if v is not None]
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in pairs)
        return "{ " + inner + " }" if inner else "{}"
    return json.dumps(str(value))


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(path: list[str], data: Mapping[str, Any], header: str, out: list[str]) -> None:
    if header:
        out.append(header)
    nested: list[tuple[str, Any]] = []
    for name, value in data.items():
        if isinstance(value, Mapping) or _is_table_list(value):
            nested.append((name, value))
        elif value is None:
            out.append(f"# {_key(name)} = (unset)")
        else:
            out.append(f"{_key(name)} = {_value(value)}")
    for name, value in nested:
        sub = [*path, _key(name)]
        dotted = ".".join(sub)
        out.append("")
        if isinstance(value, Mapping):
            _table(sub, value, f"[{dotted}]", out)
        else:
            for k, item in enumerate(value):
                if k:
                    out.append("")
                _table(sub, item, f"[[{dotted}]]", out)


def dumps(data: Mapping[str, Any]) -> str:
    """TOML text of ``data`` (sections of the settings tree, as JSON-shaped values)."""
    out: list[str] = []
    _table([], data, "", out)
    return "\n".join(out).strip() + "\n"
