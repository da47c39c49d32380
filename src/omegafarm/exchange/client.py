"""Building the exchange client: a ccxt async exchange (or the paper exchange) set up our way.

ccxt's own throttle is off (``enableRateLimit=False``); instead a subclass of the exchange's
class overrides ``fetch2`` — the one method every REST call passes through — to acquire ccxt's
per-endpoint cost from our :class:`RateLimiter` first, to hand a ``Retry-After`` to the limiter,
and to follow the used weight the exchange reports in headers (Binance
``X-MBX-USED-WEIGHT-1M``). Each request is one tracing span (exchange id, HTTP method, the
endpoint without query string, ccxt's cost; never parameters, headers or error messages).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import structlog
from opentelemetry.trace import SpanKind

from omegafarm.core.errors import ConfigError
from omegafarm.core.tracing import RECORDING, start_span
from omegafarm.exchange.credentials import Credentials
from omegafarm.exchange.errors import redact
from omegafarm.exchange.ratelimit import RateLimiter, order_bucket, weight_bucket

# header name (lower case) → (window in seconds, the exchange's published weight limit in it).
USED_WEIGHT_HEADERS: dict[str, tuple[float, float]] = {"x-mbx-used-weight-1m": (60.0, 6000.0)}
_HOST = re.compile(r"^[a-z]+://[^/]+", re.IGNORECASE)
_classes: dict[type[Any], type[Any]] = {}
_TRACER = "omegafarm.exchange.ccxt"
CLOSE_TIMEOUT_S = 5.0  # longest a ccxt close may take before its sockets are simply dropped
_log = structlog.get_logger("omegafarm.exchange.client")
__all__ = [
    "CLOSE_TIMEOUT_S",
    "build_ccxt_client",
    "build_ccxt_stream_client",
    "ccxt_class",
    "ccxt_pro_class",
    "close_ccxt_client",
    "order_bucket",
    "rewrite_urls",
    "weight_bucket",
]


def parse_retry_after(headers: Mapping[str, Any] | None, now_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now_s)
    except (TypeError, ValueError):
        return None


def rewrite_urls(urls: Any, base_url: str) -> Any:
    """``urls`` (a string or nested dict/list of them) with scheme and host replaced."""
    base = base_url.rstrip("/")
    if isinstance(urls, str):
        return _HOST.sub(base, urls) if _HOST.match(urls) else urls
    if isinstance(urls, dict):
        return {key: rewrite_urls(value, base) for key, value in urls.items()}
    if isinstance(urls, list):
        return [rewrite_urls(value, base) for value in urls]
    return urls


class RedactingLogger:
    """Stands in for ccxt's logger: its debug lines quote request headers (API keys)."""

    def __init__(self, target: logging.Logger, secrets: tuple[str, ...]) -> None:
        self._target = target
        self._secrets = secrets

    def isEnabledFor(self, level: int) -> bool:  # the logging.Logger name
        """Whether ``level`` is logged."""
        return self._target.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log one line with every secret replaced by ``***``."""
        if not self._target.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(str(part) for part in (msg, *args))
        self._target.log(level, "%s", redact(text, self._secrets), exc_info=kwargs.get("exc_info"))

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at DEBUG (ccxt calls this twice per request: the level is checked first)."""
        if self._target.isEnabledFor(logging.DEBUG):
            self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at INFO."""
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at WARNING."""
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at ERROR."""
        self.log(logging.ERROR, msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at ERROR (ccxt's exception() calls; the traceback is not repeated)."""
        self.log(logging.ERROR, msg, *args)

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at CRITICAL."""
        self.log(logging.CRITICAL, msg, *args, **kwargs)


def _span_path(api: Any, path: Any) -> str:
    """The endpoint a request goes to, for a span: ``api/path`` without any query string."""
    section = "/".join(map(str, api)) if isinstance(api, (list, tuple)) else str(api)
    return f"{section}/{str(path).split('?', 1)[0]}"


def _limited_class(base: type[Any]) -> type[Any]:
    """A subclass of the ccxt class ``base`` whose requests go through our limiter."""
    found = _classes.get(base)
    if found is not None:
        return found

    class Limited(base):  # type: ignore[misc]  # ccxt classes are untyped
        """The ccxt exchange class with every REST request passing our limiter."""

        omega_limiter: RateLimiter | None = None
        omega_bucket: str = ""

        async def fetch2(
            self,
            path: Any,
            api: Any = "public",
            method: str = "GET",
            params: Any = None,
            config: Any = None,
        ) -> Any:
            """ccxt's request path: acquire the endpoint's cost, send, note what came back.

            On every request, so without a tracer (the default) it all happens in this one
            coroutine; with one, :meth:`_omega_traced` takes the same steps inside a span.
            """
            params = {} if params is None else params
            config = {} if config is None else config
            cost = float(self.calculate_rate_limiter_cost(api, method, path, params, config) or 1)
            if RECORDING.on:  # is_recording()
                return await self._omega_traced(path, api, method, params, config, cost)
            limiter = self.omega_limiter
            if limiter is not None:
                await limiter.acquire(self.omega_bucket, cost)
            try:
                result = await base.fetch2(self, path, api, method, params, config)
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as exc:
                self._omega_rate_limited(exc)
                raise
            return self._omega_received(result, method, path)

        async def _omega_traced(
            self, path: Any, api: Any, method: str, params: Any, config: Any, cost: float
        ) -> Any:
            """:meth:`fetch2`'s steps in a span (the same lines: one coroutine fewer there)."""
            with start_span(
                f"ccxt {method} {_span_path(api, path)}",
                tracer_name=_TRACER,
                kind=SpanKind.CLIENT,
                attributes={
                    "omega.exchange.id": str(self.id),
                    "http.request.method": str(method),
                    "url.path": _span_path(api, path),
                    "omega.ccxt.cost": cost,
                },
            ):
                limiter = self.omega_limiter
                if limiter is not None:
                    await limiter.acquire(self.omega_bucket, cost)
                try:
                    result = await base.fetch2(self, path, api, method, params, config)
                except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as exc:
                    self._omega_rate_limited(exc)
                    raise
                return self._omega_received(result, method, path)

        def _omega_rate_limited(self, exc: Exception) -> None:
            """Hand the exchange's Retry-After to the error (for translate) and the limiter."""
            retry_after_s = parse_retry_after(self.last_response_headers, self.seconds())
            exc.omega_retry_after_s = retry_after_s  # type: ignore[attr-defined]  # errors.translate
            limiter = self.omega_limiter
            if limiter is not None and retry_after_s is not None:
                limiter.note_retry_after(self.omega_bucket, retry_after_s)

        def _omega_received(self, result: Any, method: str, path: Any) -> Any:
            """``result``, after following the used weight the exchange reported, if any."""
            headers = self.last_response_headers
            if headers and self.omega_limiter is not None:
                follow = False
                try:
                    for key in headers:
                        if key[0] in "xX":  # every header we follow starts with X-
                            follow = True
                            break
                except (TypeError, IndexError):  # a name that is not text, or empty: see all
                    follow = True
                if follow:
                    self._omega_sync_weight(headers)
            if isinstance(result, str) and result.lstrip()[:1] in ("{", "["):
                # ccxt hands back the text when JSON decoding failed: truncated or garbled.
                raise ccxt.BadResponse(f"{self.id} {method} {path}: malformed JSON: {result[:120]}")
            return result

        def _omega_sync_weight(self, headers: Mapping[Any, Any]) -> None:
            limiter = self.omega_limiter
            if limiter is None:
                return
            for key, value in headers.items():
                known = USED_WEIGHT_HEADERS.get(str(key).lower())
                if known is None:
                    continue
                try:
                    used_weight = float(value)
                except (TypeError, ValueError):
                    continue
                window_s, weight_limit = known
                # ccxt's cost units: one per rateLimit ms, so the window holds this many.
                limit = window_s * 1000.0 / float(self.rateLimit or 1)
                used = used_weight / weight_limit * limit
                limiter.sync_used_weight(self.omega_bucket, used, limit)

    Limited.__name__ = base.__name__
    Limited.__qualname__ = base.__qualname__
    _classes[base] = Limited
    return Limited


def ccxt_class(exchange_id: str) -> type[Any]:
    """The ccxt async exchange class for ``exchange_id``, or a ConfigError naming the choices."""
    if exchange_id not in ccxt_async.exchanges:
        raise ConfigError(
            f"exchange_id {exchange_id!r} is neither 'paper' nor a ccxt exchange id "
            f"(ccxt {ccxt.__version__} knows {len(ccxt_async.exchanges)}, e.g. binance, kraken)"
        )
    klass: type[Any] = getattr(ccxt_async, exchange_id)
    return klass


def build_ccxt_client(
    exchange_id: str,
    *,
    credentials: Credentials | None,
    limiter: RateLimiter | None,
    timeout_ms: int,
    use_testnet: bool = False,
    api_base_url: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """A ccxt async exchange object with our limiter, credentials, sandbox and URL choices."""
    client = _instance(_limited_class(ccxt_class(exchange_id)), credentials, timeout_ms, options)
    client.omega_limiter = limiter
    client.omega_bucket = weight_bucket(exchange_id)
    if use_testnet:
        if not client.urls.get("test"):
            raise ConfigError(
                f"exchange {exchange_id!r} has no sandbox/testnet URL in ccxt; "
                "set use_testnet = false or pick an exchange with a testnet"
            )
        client.set_sandbox_mode(True)
    if api_base_url:
        client.urls["api"] = rewrite_urls(client.urls["api"], api_base_url)
    return client


def _instance(
    klass: type[Any],
    credentials: Credentials | None,
    timeout_ms: int,
    options: Mapping[str, Any] | None,
) -> Any:
    """A ccxt exchange object of ``klass``: our timeout and options, the keys (if any), and a
    logger that redacts them (REST and WebSocket clients alike)."""
    config: dict[str, Any] = {"enableRateLimit": False, "timeout": timeout_ms}
    config.update(options or {})
    if credentials is not None:
        config.update(credentials.ccxt_config())
    client = klass(config)
    secrets = credentials.revealed() if credentials is not None else ()
    client.logger = RedactingLogger(logging.getLogger("ccxt.base.exchange"), secrets)
    return client


def ccxt_pro_class(exchange_id: str) -> type[Any] | None:
    """ccxt's WebSocket class (``ccxt.pro``) for ``exchange_id``, or None when it has none."""
    import ccxt.pro as ccxt_pro  # loaded on use: only a streaming gateway needs it

    if exchange_id not in ccxt_pro.exchanges:
        return None
    klass: type[Any] = getattr(ccxt_pro, exchange_id)
    return klass


def build_ccxt_stream_client(
    exchange_id: str,
    *,
    credentials: Credentials | None,
    timeout_ms: int,
    use_testnet: bool = False,
    stream_base_url: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """A ccxt.pro exchange object (its WebSocket layer) with our keys, sandbox and URL choices.

    Its REST side is not used: markets come from the REST client (``set_markets``), and every
    REST call goes through the REST client and our limiter. ``stream_base_url`` replaces the
    scheme and host of every WebSocket URL (a test server)."""
    klass = ccxt_pro_class(exchange_id)
    if klass is None:
        raise ConfigError(f"exchange {exchange_id!r} has no WebSocket API in ccxt.pro")
    client = _instance(klass, credentials, timeout_ms, options)
    if use_testnet:
        client.set_sandbox_mode(True)
    if stream_base_url:
        client.urls["api"]["ws"] = rewrite_urls(client.urls["api"]["ws"], stream_base_url)
    return client


async def close_ccxt_client(client: Any, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
    """ccxt's ``close()``, bounded, and its aiohttp session closed whatever happens in it.

    Why: ccxt closes its WebSocket clients first and its HTTP session after. A close cancelled
    in between (a gateway stopped while its stream was closing), failed or stuck (aiohttp's
    WebSocket close waits, without a timeout, for a reader task that may be gone) never
    reached the session: "Unclosed client session" and its sockets stayed open. Here the
    session is closed in a ``finally``, and aiohttp closes the connector (every socket, the
    WebSockets' too) before its first await, so a further cancel cannot undo that either.
    """
    try:
        async with asyncio.timeout(timeout_s):
            await client.close()
    except TimeoutError:
        _log.warning("ccxt_close_timed_out", exchange=str(client.id), timeout_s=timeout_s)
    finally:
        session = getattr(client, "session", None)
        if session is not None and not session.closed:
            client.session = None
            await session.close()
