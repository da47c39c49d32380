"""Exchange access for the farm: one service over a venue (any ccxt exchange, or paper).

Public surface: :class:`ExchangeService` and its settings, the :class:`Venue` port, the
normalized models, the error tree, the rate-limiter port and the credential vault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.exchange.ccxt_errors import translate  # ccxt's error table, loaded on use
    from omegafarm.exchange.config import ExchangeSettings
    from omegafarm.exchange.errors import (
        AuthenticationError,
        BadRequestError,
        BadSymbolError,
        DDoSProtectionError,
        DuplicateOrderIdError,
        ExchangeCallError,
        ExchangeNetworkError,
        ExchangeResponseError,
        ExchangeTimeoutError,
        ExchangeUnavailableError,
        InsufficientFundsError,
        InvalidOrderError,
        NotSupportedError,
        OperationRejectedError,
        OrderNotFoundError,
        OrderStateUnknownError,
        PermissionDeniedError,
        RateLimitedError,
    )
    from omegafarm.exchange.models import (
        OHLCV_COLUMNS,
        AssetBalance,
        Balance,
        Fee,
        Market,
        Order,
        OrderBook,
        Position,
        Ticker,
        Trade,
    )
    from omegafarm.exchange.ratelimit import BucketSpec, LocalRateLimiter, RateLimiter
    from omegafarm.exchange.service import ExchangeService
    from omegafarm.exchange.stream import (
        Candles,
        MarketStream,
        StreamHandlers,
        StreamKind,
        TrackedOrder,
        VenueStream,
    )
    from omegafarm.exchange.vault import Credentials, MasterKey, Secret, Vault
    from omegafarm.exchange.venue import Venue
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.exchange.config": ("ExchangeSettings",),
            "omegafarm.exchange.errors": (
                "AuthenticationError",
                "BadRequestError",
                "BadSymbolError",
                "DDoSProtectionError",
                "DuplicateOrderIdError",
                "ExchangeCallError",
                "ExchangeNetworkError",
                "ExchangeResponseError",
                "ExchangeTimeoutError",
                "ExchangeUnavailableError",
                "InsufficientFundsError",
                "InvalidOrderError",
                "NotSupportedError",
                "OperationRejectedError",
                "OrderNotFoundError",
                "OrderStateUnknownError",
                "PermissionDeniedError",
                "RateLimitedError",
            ),
            "omegafarm.exchange.models": (
                "OHLCV_COLUMNS",
                "AssetBalance",
                "Balance",
                "Fee",
                "Market",
                "Order",
                "OrderBook",
                "Position",
                "Ticker",
                "Trade",
            ),
            "omegafarm.exchange.ratelimit": (
                "BucketSpec",
                "LocalRateLimiter",
                "RateLimiter",
            ),
            "omegafarm.exchange.service": ("ExchangeService",),
            "omegafarm.exchange.stream": (
                "Candles",
                "MarketStream",
                "StreamHandlers",
                "StreamKind",
                "TrackedOrder",
                "VenueStream",
            ),
            "omegafarm.exchange.vault": (
                "Credentials",
                "MasterKey",
                "Secret",
                "Vault",
            ),
            "omegafarm.exchange.venue": ("Venue",),
            "omegafarm.exchange.ccxt_errors": ("translate",),
        },
    )

__all__ = [
    "OHLCV_COLUMNS",
    "AssetBalance",
    "AuthenticationError",
    "BadRequestError",
    "BadSymbolError",
    "Balance",
    "BucketSpec",
    "Candles",
    "Credentials",
    "DDoSProtectionError",
    "DuplicateOrderIdError",
    "ExchangeCallError",
    "ExchangeNetworkError",
    "ExchangeResponseError",
    "ExchangeService",
    "ExchangeSettings",
    "ExchangeTimeoutError",
    "ExchangeUnavailableError",
    "Fee",
    "InsufficientFundsError",
    "InvalidOrderError",
    "LocalRateLimiter",
    "Market",
    "MarketStream",
    "MasterKey",
    "NotSupportedError",
    "OperationRejectedError",
    "Order",
    "OrderBook",
    "OrderNotFoundError",
    "OrderStateUnknownError",
    "PermissionDeniedError",
    "Position",
    "RateLimitedError",
    "RateLimiter",
    "Secret",
    "StreamHandlers",
    "StreamKind",
    "Ticker",
    "TrackedOrder",
    "Trade",
    "Vault",
    "Venue",
    "VenueStream",
    "translate",
]
