"""A seeded synthetic market: trend + GARCH(1,1) volatility clustering + jumps, many symbols.

Each symbol draws from its own random stream, seeded by ``(seed, crc32(symbol))``, so adding a
symbol never changes the others and the same seed always gives the same candles. Bars are
generated in fixed chunks of ``CHUNK_BARS`` on demand, which keeps an endless market cheap and
makes the output independent of how far ahead anyone has looked. Per bar t (log returns)::

    sigma2[t] = omega + alpha * eps[t-1]**2 + beta * sigma2[t-1]      (GARCH(1,1))
    trend[t]  = phi * trend[t-1] + trend_noise * N(0,1)               (slow AR(1) drift;
                phi = exp(-bar/3 days), stationary std = 200 %/yr of drift per bar)
    eps[t]    = sqrt(sigma2[t]) * N(0,1)
    jump[t]   = N(0, jump_mult * sigma_bar) with probability jumps_per_day * bar/day
    r[t]      = drift + trend[t] - sigma2[t]/2 + eps[t] + jump[t]

open = previous close, close = open * exp(r); high/low extend the body by half a sigma times
|N(0,1)|; volume scales with the current sigma and a log-normal noise.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from omegafarm.exchange.paper._source import Candles, MarketSpec, split_symbol, timeframe_ms

CHUNK_BARS = 1024
_YEAR_MS = 365 * 86_400_000
_DAY_MS = 86_400_000
_ALPHA, _BETA = 0.08, 0.90
_TREND_ANNUAL_STD, _TREND_TAU_MS = 2.0, 3 * 86_400_000  # drift regimes of ±200 %/yr, ~3 days
_JUMPS_PER_DAY, _JUMP_MULT = 0.5, 6.0


@dataclass(frozen=True, slots=True)
class AssetProfile:
    """Realistic level, volatility and market rules of one base asset quoted in USDT."""

    price: float
    annual_vol: float
    tick: str
    step: str
    volume_per_min: float


PROFILES: dict[str, AssetProfile] = {
    "BTC": AssetProfile(42_000.0, 0.55, "0.01", "0.00001", 30.0),
    "ETH": AssetProfile(2_300.0, 0.65, "0.01", "0.0001", 400.0),
    "SOL": AssetProfile(100.0, 0.90, "0.01", "0.001", 8_000.0),
    "BNB": AssetProfile(310.0, 0.60, "0.1", "0.001", 800.0),
    "XRP": AssetProfile(0.60, 0.75, "0.0001", "1", 600_000.0),
    "ADA": AssetProfile(0.50, 0.80, "0.0001", "0.1", 500_000.0),
    "DOGE": AssetProfile(0.09, 0.90, "0.00001", "1", 3_000_000.0),
    "LINK": AssetProfile(15.0, 0.80, "0.001", "0.01", 20_000.0),
    "AVAX": AssetProfile(35.0, 0.90, "0.01", "0.01", 8_000.0),
    "DOT": AssetProfile(7.0, 0.80, "0.001", "0.01", 30_000.0),
    "LTC": AssetProfile(70.0, 0.65, "0.01", "0.001", 3_000.0),
}
_GENERIC = AssetProfile(10.0, 0.80, "0.001", "0.01", 10_000.0)
_STABLE = AssetProfile(1.0, 0.01, "0.0001", "0.01", 1_000_000.0)


def _profile(symbol: str) -> tuple[AssetProfile, float]:
    """The base's profile and the price level of the pair (base price / quote price)."""
    base, quote = split_symbol(symbol)
    prof = PROFILES.get(base, _GENERIC)
    quote_price = 1.0 if quote in ("USDT", "USDC", "USD") else PROFILES.get(quote, _GENERIC).price
    return prof, prof.price / quote_price


def synthetic_spec(symbol: str) -> MarketSpec:
    """Market rules of a synthetic symbol (Binance-like for USDT pairs)."""
    base, quote = split_symbol(symbol)
    prof, level = _profile(symbol)
    if quote in ("USDT", "USDC", "USD"):
        return MarketSpec(symbol, base, quote, Decimal(prof.tick), Decimal(prof.step), Decimal(5))
    magnitude = math.floor(math.log10(level))
    tick = max(Decimal(1).scaleb(magnitude - 5), Decimal("1e-8"))
    return MarketSpec(symbol, base, quote, tick, Decimal(prof.step), None)


class _SymbolGenerator:
    """The random walk of one symbol, advanced a chunk at a time."""

    def __init__(self, symbol: str, seed: int, tf_ms: int) -> None:
        prof, level = _profile(symbol)
        self.rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
        self.sigma_bar = prof.annual_vol * math.sqrt(tf_ms / _YEAR_MS)
        self.omega = self.sigma_bar**2 * (1.0 - _ALPHA - _BETA)
        self.jump_p = min(1.0, _JUMPS_PER_DAY * tf_ms / _DAY_MS)
        self.volume_bar = prof.volume_per_min * tf_ms / 60_000 / (level / prof.price)
        self.close = level
        self.sigma2 = self.sigma_bar**2
        self.eps = 0.0
        self.trend = 0.0
        self.phi = math.exp(-tf_ms / _TREND_TAU_MS)
        self.trend_noise = _TREND_ANNUAL_STD * tf_ms / _YEAR_MS * math.sqrt(1 - self.phi**2)

    def chunk(self, n: int) -> tuple[np.ndarray, ...]:
        """The next ``n`` bars as (open, high, low, close, volume) arrays."""
        z = self.rng.standard_normal((n, 5))
        jump_hit = self.rng.random(n) < self.jump_p
        out = np.empty((n, 5), dtype=np.float64)
        phi, noise = self.phi, self.trend_noise
        for t in range(n):
            self.sigma2 = self.omega + _ALPHA * self.eps**2 + _BETA * self.sigma2
            sigma = math.sqrt(self.sigma2)
            self.trend = phi * self.trend + noise * z[t, 1]
            self.eps = sigma * z[t, 0]
            jump = _JUMP_MULT * self.sigma_bar * z[t, 2] if jump_hit[t] else 0.0
            r = self.trend - self.sigma2 / 2.0 + self.eps + jump
            opn = self.close
            close = opn * math.exp(r)
            high = max(opn, close) * math.exp(0.5 * sigma * abs(z[t, 3]))
            low = min(opn, close) * math.exp(-0.5 * sigma * abs(z[t, 4]))
            vol = self.volume_bar * (sigma / self.sigma_bar) * math.exp(0.3 * z[t, 3] - 0.045)
            out[t] = (opn, high, low, close, vol)
            self.close = close
        return tuple(out[:, i].copy() for i in range(5))


class SyntheticSource:
    """An endless, reproducible market for any number of symbols."""

    def __init__(self, symbols: list[str], seed: int, timeframe: str, start_ts_ms: int) -> None:
        self._timeframe = timeframe
        self._tf_ms = timeframe_ms(timeframe)
        self._start = start_ts_ms - start_ts_ms % self._tf_ms
        self._gens = {s: _SymbolGenerator(s, seed, self._tf_ms) for s in symbols}
        self._candles = {s: _empty() for s in symbols}
        self._specs = {s: synthetic_spec(s) for s in symbols}

    @property
    def timeframe(self) -> str:
        return self._timeframe

    @property
    def start_ts_ms(self) -> int:
        return self._start

    @property
    def end_ts_ms(self) -> int | None:
        return None

    @property
    def specs(self) -> dict[str, MarketSpec]:
        return self._specs

    def candles(self, symbol: str, until_ts_ms: int) -> Candles:
        """Bars of ``symbol`` up to (at least) the bar opening just before ``until_ts_ms``."""
        have = self._candles[symbol]
        need = (until_ts_ms - self._start) // self._tf_ms + 1
        if len(have) >= need:
            return have
        gen = self._gens[symbol]
        parts = [have]
        n = len(have)
        while n < need:
            o, h, lo, c, v = gen.chunk(CHUNK_BARS)
            ts = self._start + self._tf_ms * np.arange(n, n + CHUNK_BARS, dtype=np.int64)
            parts.append(Candles(ts, o, h, lo, c, v))
            n += CHUNK_BARS
        merged = Candles(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))
        self._candles[symbol] = merged
        return merged


_FIELDS = ("ts", "open", "high", "low", "close", "volume")


def _empty() -> Candles:
    f = np.empty(0, dtype=np.float64)
    return Candles(np.empty(0, dtype=np.int64), f, f.copy(), f.copy(), f.copy(), f.copy())
