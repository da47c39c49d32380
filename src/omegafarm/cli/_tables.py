"""Tables for the terminal that wrap instead of cutting: ids are never truncated.

Rich shortens a cell with "…" when a table is wider than the terminal (80 columns in a pipe),
which loses exactly what a user must type next (a bot or lesson id). Here id columns keep
their full width and never break; every other column folds onto more lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

from rich.table import Table


def wrapping_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    ids: Iterable[str] = ("id",),
    numeric: Iterable[str] = (),
    title: str | None = None,
    show_lines: bool = False,
) -> Table:
    """A rich Table whose ``ids`` columns stay whole and whose other columns wrap."""
    rows = [list(r) for r in rows]
    id_cols, num_cols = set(ids), set(numeric)
    table = Table(title=title, show_lines=show_lines)
    for k, head in enumerate(headers):
        if head in id_cols:
            width = max([len(head), *(len(r[k]) for r in rows)])
            table.add_column(head, no_wrap=True, min_width=width)
        else:
            table.add_column(head, overflow="fold", justify="right" if head in num_cols else "left")
    for r in rows:
        table.add_row(*r)
    return table


def money(value: object, places: int = 2) -> str:
    """A decimal amount with thousands separators and fixed places (blank for None)."""
    if value is None or value == "":
        return ""
    try:
        return f"{Decimal(str(value)):,.{places}f}"
    except InvalidOperation:
        return str(value)


def plain(value: object) -> str:
    """A number without trailing zeros (``0.11330000`` → ``0.1133``), other values as text."""
    if value is None:
        return ""
    if isinstance(value, str | int | float | Decimal):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        text = f"{number.normalize():f}"
        return "0" if text in ("-0", "") else text
    return str(value)
