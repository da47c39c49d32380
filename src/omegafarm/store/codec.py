"""Value codec: JSON by default, with exact round trips for Decimal, datetime and numpy.

An encoded value is plain UTF-8 JSON (readable by any Redis tool), except raw bytes, which are
stored behind one ``\\x00`` byte (never the first byte of JSON) and passed through untouched.
Types JSON cannot carry exactly are written as small tagged objects (``{"$dec": "0.1"}``), so
``decode(encode(x)) == x`` for Decimal,
datetime (timezone kept), date, numpy arrays (dtype and shape kept) and numpy scalars
(``numpy.float64`` is a Python float subclass and comes back as an equal ``float``).
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from omegafarm.core.errors import StoreError

_RAW = b"\x00"


def _decimal(value: Decimal) -> dict[str, str]:
    return {"$dec": str(value)}


def tag_decimals(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its Decimal values already in their encoded form: :func:`encode` gives
    the same bytes for both, without a call back into Python per Decimal, so a record encoded
    several times (or whose values several records share) converts them once."""
    return {k: _decimal(v) if type(v) is Decimal else v for k, v in record.items()}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {
            "$nd": base64.b64encode(array.tobytes()).decode("ascii"),
            "dtype": array.dtype.str,
            "shape": list(array.shape),
        }
    if isinstance(value, np.generic):
        return {"$np": value.item(), "dtype": value.dtype.str}
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot encode a {type(value).__name__} value")


def _object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$dec" in obj:
            return Decimal(obj["$dec"])
        if "$dt" in obj:
            return datetime.fromisoformat(obj["$dt"])
        if "$date" in obj:
            return date.fromisoformat(obj["$date"])
        if "$b64" in obj:
            return base64.b64decode(obj["$b64"])
    if "$nd" in obj and len(obj) == 3:
        raw = base64.b64decode(obj["$nd"])
        return np.frombuffer(raw, dtype=np.dtype(obj["dtype"])).reshape(obj["shape"]).copy()
    if "$np" in obj and len(obj) == 2:
        return np.dtype(obj["dtype"]).type(obj["$np"])
    return obj


_ENCODER = json.JSONEncoder(default=_default, separators=(",", ":"), allow_nan=True)


def encode(value: Any) -> bytes:
    """Bytes for Redis: raw bytes pass through, everything else is tagged JSON."""
    if isinstance(value, bytes | bytearray | memoryview):
        return _RAW + bytes(value)
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"value cannot be stored: {exc}") from exc
    return text.encode()


def decode(data: bytes | str) -> Any:
    """The value :func:`encode` was given."""
    if isinstance(data, str):  # only when a caller configured decode_responses
        data = data.encode()
    if not data:
        raise StoreError("stored value is empty (not written by this codec)")
    if data[:1] == _RAW:
        return data[1:]
    try:
        if b'"$' not in data:  # no tagged values: skip the per-object hook (2x faster)
            return json.loads(data)
        return json.loads(data, object_hook=_object_hook)
    except ValueError as exc:
        raise StoreError(f"stored value is not JSON written by this codec: {exc}") from exc
