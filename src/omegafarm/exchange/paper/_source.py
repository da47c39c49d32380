"""Market sources of the paper exchange: the candles it trades against, and each market's shape.

A source owns one timeframe and, per symbol, a ``Candles`` record of numpy arrays
(timestamp_ms, open, high, low, close, volume). The matching engine only ever looks at bars
whose close time has passed on its clock, so a source may hold (or generate) the future without
leaking it. ``ReplaySource`` reads real candles from CSV or Parquet files named
``BASE_QUOTE-TF.csv`` (e.g. ``ETH_BTC-5m.csv`` → ``ETH/BTC``); ``SyntheticSource`` lives in
``_synthetic``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ConfigError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def timeframe_ms(timeframe: str) -> int:
    """Milliseconds in a ccxt timeframe string such as ``5m`` or ``1h``."""
    unit = timeframe[-1:]
    count = timeframe[:-1]
    if unit not in _UNIT_MS or not count.isdigit() or int(count) <= 0:
        raise ConfigError(f"timeframe {timeframe!r} is not one of N s/m/h/d/w (e.g. 5m, 1h)")
    return int(count) * _UNIT_MS[unit]


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Trading rules of one spot symbol: tick size, amount step and minimum order cost."""

    symbol: str
    base: str
    quote: str
    price_tick: Decimal
    amount_step: Decimal
    min_cost: Decimal | None


@dataclass(slots=True)
class Candles:
    """Bars of one symbol, oldest first, as parallel numpy arrays (never changed once built:
    a source that grows builds a new record)."""

    ts: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    # the open times as Python ints, made on first use: the schedule bisects them and reads
    # single bars (a list index costs a tenth of a numpy scalar read and its conversion)
    _ts_list: list[int] | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def ts_list(self) -> list[int]:
        """The open times as Python ints (made once per record)."""
        found = self._ts_list
        if found is None:
            found = self._ts_list = self.ts.tolist()
        return found

    def as_matrix(self, start: int, stop: int) -> F64:
        """Rows ``start:stop`` as an (n, 6) float64 matrix in ccxt's OHLCV column order."""
        cols = (self.ts, self.open, self.high, self.low, self.close, self.volume)
        return np.column_stack([np.asarray(c[start:stop], dtype=np.float64) for c in cols])


class MarketSource(Protocol):
    """What the engine needs from a source of candles."""

    @property
    def timeframe(self) -> str: ...

    @property
    def start_ts_ms(self) -> int:
        """Open time of the first bar."""
        ...

    @property
    def end_ts_ms(self) -> int | None:
        """Close time of the last bar, or None for an endless source."""
        ...

    @property
    def specs(self) -> dict[str, MarketSpec]: ...

    def candles(self, symbol: str, until_ts_ms: int) -> Candles:
        """All bars of ``symbol`` known so far, covering at least bars opening before until."""
        ...


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"ETH/BTC"`` → ``("ETH", "BTC")``."""
    base, _, quote = symbol.partition("/")
    return base, quote


def _pow10(exponent: int) -> Decimal:
    return Decimal(1).scaleb(exponent)


def derived_spec(symbol: str, typical_price: float) -> MarketSpec:
    """Tick and step for a replayed symbol: prices keep 7 significant digits, amounts 1e-8+."""
    magnitude = math.floor(math.log10(typical_price)) if typical_price > 0 else 0
    tick = max(_pow10(magnitude - 6), _pow10(-8))
    step = min(max(_pow10(-5 - magnitude), _pow10(-8)), Decimal(1))
    base, quote = split_symbol(symbol)
    return MarketSpec(symbol, base, quote, tick, step, None)


def _read_table(path: Path) -> dict[str, npt.NDArray[np.float64]]:
    import pyarrow.csv as pacsv  # local: only replay needs pyarrow
    import pyarrow.parquet as pq

    table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
    missing = [c for c in CANDLE_COLUMNS if c not in table.column_names]
    if missing:
        raise ConfigError(f"{path}: missing columns {missing}; need {','.join(CANDLE_COLUMNS)}")
    return {c: column_array(table.column(c)) for c in CANDLE_COLUMNS}


def column_array(column: Any) -> npt.NDArray[np.float64]:
    """A pyarrow column as float64, read from its buffers: ``to_numpy()`` imports pandas
    (about 2 s of a backtest's start-up on a small machine)."""
    parts = []
    for chunk in column.chunks:
        kind = str(chunk.type)
        if chunk.null_count == 0 and kind in ("int64", "double"):
            raw = np.frombuffer(
                chunk.buffers()[1], dtype=np.int64 if kind == "int64" else np.float64
            )
            parts.append(raw[chunk.offset : chunk.offset + len(chunk)].astype(np.float64))
        else:
            parts.append(np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=np.float64))
    return np.concatenate(parts) if parts else np.empty(0)


def load_candles(path: Path) -> Candles:
    """Read one candle file (CSV or Parquet, timestamps in ms), sorted and de-duplicated."""
    cols = _read_table(path)
    ts = cols["timestamp"].astype(np.int64)
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    keep = np.ones(ts.shape[0], dtype=bool)
    keep[1:] = ts[1:] != ts[:-1]
    idx = order[keep]
    return Candles(
        ts=ts[keep],
        open=cols["open"][idx],
        high=cols["high"][idx],
        low=cols["low"][idx],
        close=cols["close"][idx],
        volume=cols["volume"][idx],
    )


def _symbol_and_tf(path: Path) -> tuple[str, str | None]:
    stem = path.stem
    name, dash, tf = stem.rpartition("-")
    if not dash:
        name, tf = stem, ""
    if "_" not in name:
        raise ConfigError(f"{path.name}: file name must look like BASE_QUOTE-TF.csv")
    return name.replace("_", "/", 1), (tf or None)


def _most_common_timeframe(timeframes: list[str | None]) -> str:
    known = [tf for tf in timeframes if tf]
    if not known:
        return "1m"
    return min(set(known), key=lambda tf: (-known.count(tf), timeframe_ms(tf)))


class ReplaySource:
    """Real candles from files, played back bar by bar (all in memory: a few MB per year).

    ``timeframe`` None picks the timeframe most files of the folder have (the shorter on a tie).
    """

    def __init__(self, path: Path, timeframe: str | None, symbols: list[str] | None = None) -> None:
        files = [path] if path.is_file() else sorted(path.glob("*"))
        named = [(f, *_symbol_and_tf(f)) for f in files if f.suffix in (".csv", ".parquet")]
        if path.is_file() and named and named[0][2] and timeframe is None:
            timeframe = named[0][2]  # one file: its name says its timeframe unless one is given
        timeframe = timeframe or _most_common_timeframe([tf for _, _, tf in named])
        found = {
            symbol: load_candles(file)
            for file, symbol, tf in named
            if (path.is_file() or tf == timeframe) and (not symbols or symbol in symbols)
        }
        missing = sorted(set(symbols or ()) - set(found))
        if missing or not found:
            raise ConfigError(f"replay: no {timeframe} candles for {missing or 'any'} in {path}")
        self._timeframe = timeframe
        self._tf_ms = timeframe_ms(timeframe)
        self._candles = found
        self._specs = {
            s: derived_spec(s, float(np.median(c.close))) for s, c in sorted(found.items())
        }

    @property
    def timeframe(self) -> str:
        return self._timeframe

    @property
    def start_ts_ms(self) -> int:
        return min(int(c.ts[0]) for c in self._candles.values())

    @property
    def end_ts_ms(self) -> int | None:
        return max(int(c.ts[-1]) for c in self._candles.values()) + self._tf_ms

    @property
    def specs(self) -> dict[str, MarketSpec]:
        return self._specs

    def candles(self, symbol: str, until_ts_ms: int) -> Candles:
        """All bars of ``symbol`` (a replay knows its whole history up front)."""
        return self._candles[symbol]


def write_candles(
    folder: Path,
    symbol: str,
    timeframe: str,
    rows: list[tuple[int, float, float, float, float, float]],
) -> Path:
    """Write ``rows`` (ts_ms, o, h, l, c, v) as ``BASE_QUOTE-TF.csv`` that ReplaySource reads."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{symbol.replace('/', '_')}-{timeframe}.csv"
    lines = [",".join(CANDLE_COLUMNS)]
    lines += [f"{int(r[0])},{r[1]!r},{r[2]!r},{r[3]!r},{r[4]!r},{r[5]!r}" for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
