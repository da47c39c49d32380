"""ccxt's unified structures, built from the paper engine's records.

Every function returns exactly the dict shape ccxt documents (and its ``safe_*`` helpers
produce) for markets, tickers, order books, orders, trades, balances and positions: the same
keys, floats for numbers, ISO 8601 ``datetime`` strings, and the engine's own view in ``info``.
Code written against ccxt reads them unchanged; the tests check the keys against ccxt itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from omegafarm.exchange.paper._account import liquidation_price
from omegafarm.exchange.paper._book import Book
from omegafarm.exchange.paper._source import Candles
from omegafarm.exchange.paper._state import Fill, Order, PaperMarket, Position, Wallet
from omegafarm.exchange.paper.config import PaperSettings

_DAY_MS = 86_400_000
CcxtDict = dict[str, Any]


@lru_cache(maxsize=4096)  # an order's and its fills' times are formatted on every query
def iso8601(ts_ms: int | None) -> str | None:
    """ccxt's datetime format: ``2024-01-01T00:00:00.000Z``."""
    if ts_ms is None:
        return None
    day, ms = divmod(ts_ms, _DAY_MS)
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{_iso_day(day)}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z"


@lru_cache(maxsize=4096)
def _iso_day(day: int) -> str:
    """The date of a day since the epoch (cached: a backtest stamps many times on one day)."""
    return f"{datetime.fromtimestamp(day * 86_400, tz=UTC):%Y-%m-%d}"


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def market_dict(market: PaperMarket, settings: PaperSettings, timeframe: str) -> CcxtDict:
    """The unified market structure (precision values are tick sizes: ccxt TICK_SIZE)."""
    spec, swap = market.spec, market.swap
    settle = spec.quote if swap else None
    return {
        "id": market.market_id,
        "lowercaseId": market.market_id.lower(),
        "symbol": market.symbol,
        "base": spec.base,
        "quote": spec.quote,
        "settle": settle,
        "baseId": spec.base,
        "quoteId": spec.quote,
        "settleId": settle,
        "type": "swap" if swap else "spot",
        "spot": not swap,
        "margin": False,
        "swap": swap,
        "future": False,
        "option": False,
        "index": None,
        "active": True,
        "contract": swap,
        "linear": True if swap else None,
        "inverse": False if swap else None,
        "subType": "linear" if swap else None,
        "taker": float(settings.taker_fee),
        "maker": float(settings.maker_fee),
        "percentage": True,
        "tierBased": False,
        "feeSide": "quote",
        "contractSize": 1.0 if swap else None,
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "precision": {
            "amount": float(spec.amount_step),
            "price": float(spec.price_tick),
            "cost": None,
            "base": None,
            "quote": None,
        },
        "limits": {
            "leverage": {
                "min": 1.0 if swap else None,
                "max": float(settings.max_leverage) if swap else None,
            },
            "amount": {"min": float(spec.amount_step), "max": None},
            "price": {"min": float(spec.price_tick), "max": None},
            "cost": {"min": _f(spec.min_cost), "max": None},
        },
        "marginModes": {"cross": False, "isolated": swap},
        "created": None,
        "info": {"source": settings.source, "timeframe": timeframe, "sourceSymbol": spec.symbol},
    }


def currency_dict(code: str) -> CcxtDict:
    """The unified currency structure (paper money: no networks, deposits or withdrawals)."""
    return {
        "id": code,
        "code": code,
        "name": code,
        "active": True,
        "deposit": False,
        "withdraw": False,
        "fee": None,
        "precision": 1e-8,
        "limits": {"amount": {"min": None, "max": None}, "withdraw": {"min": None, "max": None}},
        "networks": {},
        "info": {},
    }


def ticker_dict(market: PaperMarket, c: Candles, n: int, now_ms: int, book: Book) -> CcxtDict:
    """The unified ticker over the last 24 h of closed bars, bid/ask from the simulated book."""
    ticker: CcxtDict = dict.fromkeys(_TICKER_KEYS)
    ticker.update(symbol=market.symbol, timestamp=now_ms, datetime=iso8601(now_ms))
    ticker["info"] = {"closedBars": n}
    if n == 0:
        return ticker
    start = int(c.ts[:n].searchsorted(now_ms - _DAY_MS, "left"))
    high, low, vol = c.high[start:n], c.low[start:n], c.volume[start:n]
    base_volume = float(vol.sum())
    quote_volume = float((vol * (high + low + c.close[start:n]) / 3.0).sum())
    opn, last = float(c.open[start]), float(c.close[n - 1])
    ticker.update(
        high=float(high.max()),
        low=float(low.min()),
        bid=float(book.bid(0)),
        bidVolume=float(book.level_qty),
        ask=float(book.ask(0)),
        askVolume=float(book.level_qty),
        vwap=quote_volume / base_volume if base_volume > 0 else None,
        open=opn,
        close=last,
        last=last,
        previousClose=float(c.close[start - 1]) if start > 0 else None,
        change=last - opn,
        percentage=(last - opn) / opn * 100.0 if opn else None,
        average=(opn + last) / 2.0,
        baseVolume=base_volume,
        quoteVolume=quote_volume,
        markPrice=last if market.swap else None,
    )
    return ticker


_TICKER_KEYS = [
    "symbol",
    "timestamp",
    "datetime",
    "high",
    "low",
    "bid",
    "bidVolume",
    "ask",
    "askVolume",
    "vwap",
    "open",
    "close",
    "last",
    "previousClose",
    "change",
    "percentage",
    "average",
    "baseVolume",
    "quoteVolume",
    "indexPrice",
    "markPrice",
    "info",
]


def order_book_dict(symbol: str, book: Book, depth: int, now_ms: int) -> CcxtDict:
    """The unified order book: ``bids``/``asks`` as ``[price, amount]`` lists, best first."""
    return {
        "symbol": symbol,
        "bids": [[float(p), float(q)] for p, q in book.levels("sell", depth)],
        "asks": [[float(p), float(q)] for p, q in book.levels("buy", depth)],
        "timestamp": now_ms,
        "datetime": iso8601(now_ms),
        "nonce": None,
    }


def trade_dict(fill: Fill, order_type: str) -> CcxtDict:
    """The unified trade (one fill of one order)."""
    fee = {"cost": float(fill.fee), "currency": fill.fee_currency}
    return {
        "id": fill.id,
        "order": fill.order_id,
        "timestamp": fill.ts_ms,
        "datetime": iso8601(fill.ts_ms),
        "symbol": fill.symbol,
        "type": order_type,
        "side": fill.side,
        "takerOrMaker": fill.taker_or_maker,
        "price": float(fill.price),
        "amount": float(fill.amount),
        "cost": float(fill.cost),
        "fee": fee,
        "fees": [dict(fee)],
        "info": {
            "price": str(fill.price),
            "amount": str(fill.amount),
            "cost": str(fill.cost),
            "fee": str(fill.fee),
        },
    }


def order_dict(order: Order) -> CcxtDict:
    """The unified order, with its fills as unified trades."""
    filled, market, kind = order.filled, order.market, order.type
    average = order.cost / filled if filled else None
    price = order.price if order.price is not None else average
    fee = {"cost": float(order.fee), "currency": market.spec.quote}
    swap = market.swap
    return {
        "id": order.id,
        "clientOrderId": order.client_id,
        "timestamp": order.ts_ms,
        "datetime": iso8601(order.ts_ms),
        "lastTradeTimestamp": order.last_trade_ts_ms,
        "lastUpdateTimestamp": order.last_update_ts_ms,
        "symbol": market.symbol,
        "type": kind,
        "timeInForce": None if kind == "market" else order.tif,
        "postOnly": order.tif == "PO",
        "reduceOnly": order.reduce_only,
        "marginMode": "isolated" if swap else None,
        "leverage": None,
        "hedged": False if swap else None,
        "side": order.side,
        "price": None if price is None else float(price),
        "triggerPrice": None,
        "stopPrice": None,
        "takeProfitPrice": None,
        "stopLossPrice": None,
        "average": None if average is None else float(average),
        "amount": float(order.amount),
        "filled": float(filled),
        "remaining": float(order.amount - filled),
        "cost": float(order.cost),
        "status": order.status,
        "fee": fee,
        "fees": [dict(fee)],
        "trades": [trade_dict(f, kind) for f in order.fills] if order.fills else [],
        "info": {
            "status": order.status,
            "reason": order.reason,
            "arrivalTimestamp": order.arrival_ts_ms,
            "reserved": str(order.reserved),
            "reserveCurrency": order.reserve_currency,
        },
    }


def balance_dict(wallets: dict[str, Wallet], now_ms: int) -> CcxtDict:
    """The unified balance: per currency and as free/used/total maps."""
    out: CcxtDict = {"info": {}, "timestamp": now_ms, "datetime": iso8601(now_ms)}
    free, used, total = {}, {}, {}
    for currency, wallet in sorted(wallets.items()):
        entry = {
            "free": float(wallet.free),
            "used": float(wallet.used),
            "total": float(wallet.total),
        }
        out[currency] = entry
        out["info"][currency] = {"free": str(wallet.free), "used": str(wallet.used)}
        free[currency], used[currency], total[currency] = (
            entry["free"],
            entry["used"],
            entry["total"],
        )
    out.update(free=free, used=used, total=total)
    return out


def position_dict(pos: Position, mark: Decimal, mmr: Decimal, now_ms: int) -> CcxtDict:
    """The unified position of an isolated linear perpetual (contract size 1)."""
    contracts = abs(pos.contracts)
    upnl = pos.contracts * (mark - pos.entry_price)
    notional = contracts * mark
    maintenance = notional * mmr
    equity = pos.collateral + upnl
    return {
        "info": {
            "contracts": str(pos.contracts),
            "entryPrice": str(pos.entry_price),
            "collateral": str(pos.collateral),
        },
        "id": None,
        "symbol": pos.symbol,
        "timestamp": now_ms,
        "datetime": iso8601(now_ms),
        "lastUpdateTimestamp": pos.ts_ms,
        "initialMargin": float(pos.collateral),
        "positionMargin": float(pos.collateral),
        "initialMarginPercentage": 1.0 / pos.leverage,
        "maintenanceMargin": float(maintenance),
        "maintenanceMarginPercentage": float(mmr),
        "entryPrice": float(pos.entry_price),
        "notional": float(notional),
        "leverage": float(pos.leverage),
        "unrealizedPnl": float(upnl),
        "realizedPnl": float(pos.realized_pnl),
        "contracts": float(contracts),
        "contractSize": 1.0,
        "marginRatio": float(maintenance / equity) if equity > 0 else None,
        "liquidationPrice": _f(liquidation_price(pos, mmr)),
        "markPrice": float(mark),
        "lastPrice": float(mark),
        "collateral": float(pos.collateral),
        "marginMode": "isolated",
        "isolated": True,
        "exitPrice": None,
        "side": "long" if pos.contracts > 0 else "short",
        "percentage": float(upnl / pos.collateral * 100) if pos.collateral else None,
        "hedged": False,
        "stopLossPrice": None,
        "takeProfitPrice": None,
    }
