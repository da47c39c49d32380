"""Exchange access for the farm: one service over ccxt (or the paper exchange).

Public surface: :class:`ExchangeService` and its settings, the normalized models, the error
tree, the rate-limiter port and the credential vault.
"""

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
    translate,
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
    "translate",
]
