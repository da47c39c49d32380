from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest

from omegafarm.core.errors import StoreError
from omegafarm.store import codec


@pytest.mark.parametrize(
    "value",
    [
        Decimal("0.1"),
        Decimal("-12345678901234567890.000000000001"),
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
        date(2026, 11, 25),
        {"price": Decimal("101.25"), "ts": datetime(2026, 1, 1, tzinfo=UTC), "tags": ["a", 1]},
        [1, 2.5, None, True, "x"],
        b"\x00raw bytes\xff",
    ],
    ids=[
        "decimal",
        "big-decimal",
        "datetime-utc",
        "datetime-offset",
        "date",
        "nested",
        "list",
        "bytes",
    ],
)
def test_values_round_trip_exactly(value: object) -> None:
    decoded = codec.decode(codec.encode(value))
    assert decoded == value
    assert type(decoded) is type(value)


def test_numpy_arrays_keep_dtype_shape_and_values() -> None:
    array = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    decoded = codec.decode(codec.encode({"candles": array}))["candles"]
    assert decoded.dtype == array.dtype
    assert decoded.shape == (3, 4)
    assert np.array_equal(decoded, array)


def test_numpy_scalars_keep_their_type() -> None:
    for scalar in (np.float32(1.5), np.int64(-7), np.bool_(True)):
        decoded = codec.decode(codec.encode(scalar))
        assert decoded == scalar
        assert decoded.dtype == scalar.dtype


def test_numpy_float64_is_a_python_float_with_the_same_value() -> None:
    decoded = codec.decode(codec.encode(np.float64(0.1)))
    assert decoded == 0.1 and isinstance(decoded, float)


def test_unencodable_value_raises_store_error() -> None:
    with pytest.raises(StoreError, match="cannot be stored"):
        codec.encode({"x": object()})


def test_foreign_bytes_raise_a_clear_error() -> None:
    with pytest.raises(StoreError, match="not JSON written by this codec"):
        codec.decode(b"{not ours}")


def test_stored_json_is_plain_json_readable_by_other_tools() -> None:
    import json

    encoded = codec.encode({"symbol": "BTC/USDT", "last": 1.5})
    assert json.loads(encoded) == {"symbol": "BTC/USDT", "last": 1.5}


def test_decimals_tagged_ahead_encode_to_the_same_bytes() -> None:
    record = {"equity": Decimal("10.50"), "pnl": Decimal("-0E-8"), "n": 3, "x": 1.5, "s": "a"}
    tagged = codec.tag_decimals(record)
    assert codec.encode(tagged) == codec.encode(record)
    decoded = codec.decode(codec.encode(tagged))
    assert decoded == record and str(decoded["equity"]) == "10.50"  # exponent kept
