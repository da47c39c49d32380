"""The bot models whose ``__init__`` is written out for speed behave as the generated one would.

``OrderUpdate``, ledger ``Fill`` and ``PlaceOrder`` are frozen dataclasses with a hand-written
``__init__`` (one dict update instead of one ``object.__setattr__`` per field): it must take the
fields in order, by position or by name, with the same defaults, and the instances must still be
frozen, equal by value, hashable and convertible with ``asdict``.
"""

from __future__ import annotations

import dataclasses
import inspect
from decimal import Decimal
from typing import Any

import pytest

from omegafarm.bots.ledger import Fill, OrderUpdate
from omegafarm.bots.trader import PlaceOrder

D = Decimal("1.5")
SAMPLES: dict[type[Any], tuple[Any, ...]] = {
    OrderUpdate: ("bt-1", "7", "ETH/BTC", "buy", "limit", "open", D, D, D, D, "BTC", D, 5, "x"),
    Fill: ("bt-1", "sell", D, D, D, D, 9),
    PlaceOrder: ("bt-2", "ETH/BTC", "buy", "market", D, None),
}


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_written_init_takes_the_fields_in_order_with_their_defaults(cls: type[Any]) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        want = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert p.default == want, p.name
        assert f.default_factory is dataclasses.MISSING  # a factory would need code in __init__


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_written_init_builds_frozen_equal_hashable_values(cls: type[Any]) -> None:
    values = SAMPLES[cls]
    by_position = cls(*values)
    by_name = cls(**{f.name: v for f, v in zip(dataclasses.fields(cls), values, strict=True)})
    assert by_position == by_name and hash(by_position) == hash(by_name)
    assert dataclasses.asdict(by_position) == {
        f.name: v for f, v in zip(dataclasses.fields(cls), values, strict=True)
    }
    assert cls(**dataclasses.asdict(by_position)) == by_position
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(by_position, dataclasses.fields(cls)[0].name, "changed")
    with pytest.raises(TypeError):
        cls(*values, "one too many")


def test_order_update_reason_defaults_to_none() -> None:
    update = OrderUpdate(*SAMPLES[OrderUpdate][:-1])
    assert update.reason is None and update.is_open
