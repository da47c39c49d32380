"""Exchange access for the farm: one service over a venue (any ccxt exchange, or paper).

Public surface: :class:`ExchangeService` and its settings, the :class:`Venue` port, the
normalized models, the error tree, the rate-limiter port and the credential vault.
"""

from typing import TYPE_CHECKING, Any

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
from omegafarm.exchange.vault import Credentials, MasterKey, Secret, Vault
from omegafarm.exchange.venue import Venue

if TYPE_CHECKING:
    from omegafarm.exchange.ccxt_errors import translate


def __getattr__(name: str) -> Any:
    """``translate`` is ccxt's error table: imported (with ccxt) only when asked for."""
    if name == "translate":
        from omegafarm.exchange.ccxt_errors import translate

        return translate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OHLCV_COLUMNS",
    "AssetBalance",
    "AuthenticationError",
    "BadRequestError",
    "BadSymbolError",
    "Balance",
    "BucketSpec",
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
    "Ticker",
    "Trade",
    "Vault",
    "Venue",
    "translate",
]
