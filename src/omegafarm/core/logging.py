"""Structured logging with structlog, and the redaction that keeps secrets out of every line.

:func:`configure_logging` is called once at the entry point. Console output is for humans,
``json`` for machines. Every record carries ``service`` (``omega`` when no service bound one).
:class:`Redactor` runs last before rendering: it replaces every registered secret value, any
value under a secret-sounding key, and anything that looks like an API secret (a long run of
key-like characters mixing letters and digits) with ``***``. Records from the standard
library's ``logging`` (uvicorn, asyncio) pass through the same processors.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from omegafarm.core.config import SECRET_WORDS

MASK = "***"
# Long runs that look like keys: hex (32+), or base64-ish (32+) mixing upper, lower and digits.
# "/" is left out so that file paths are not taken for secrets.
_SECRET_LIKE = re.compile(
    r"(?<![A-Za-z0-9+_=-])(?:[0-9a-fA-F]{32,}"
    r"|(?=[A-Za-z0-9+_=-]*\d)(?=[A-Za-z0-9+_=-]*[a-z])(?=[A-Za-z0-9+_=-]*[A-Z])[A-Za-z0-9+_=-]{32,})"
)
_KV_SECRET = re.compile(r"(?i)\b(" + "|".join(SECRET_WORDS) + r")(\s*[=:]\s*)(['\"]?)[^\s'\",;&]+")


class Redactor:
    """A structlog processor that masks secrets anywhere in an event dict."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secret values (a vault unlock, a token created at run time)."""
        for secret in secrets:
            if secret and len(secret) >= 4:
                self._secrets.add(secret)

    def redact_text(self, text: str) -> str:
        """``text`` with every secret-looking part masked."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        text = _KV_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}", text)
        return _SECRET_LIKE.sub(MASK, text)

    def _redact(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            if any(word in key.lower() for word in SECRET_WORDS) and value != MASK:
                return MASK
            return self.redact_text(value)
        if isinstance(value, dict):
            return {k: self._redact(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact(key, v) for v in value]
        if isinstance(value, BaseException):
            return self.redact_text(f"{type(value).__name__}: {value}")
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.redact_text(str(value))

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        for key in list(event_dict):
            event_dict[key] = self._redact(key, event_dict[key])
        return event_dict


def _add_service(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("service", "omega")
    return event_dict


def configure_logging(
    *,
    level: str = "info",
    fmt: Literal["console", "json"] = "console",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Redactor:
    """Configure structlog and the stdlib root logger once; returns the redactor in use."""
    redactor = Redactor(secrets)
    out = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service,
        structlog.processors.format_exc_info,
        redactor,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    return redactor


def bind_context(**fields: Any) -> None:
    """Bind context (bot_id, exchange, symbol) to every log line of the current task."""
    structlog.contextvars.bind_contextvars(**fields)


def current_context() -> MutableMapping[str, Any]:
    """The context bound to the current task."""
    return structlog.contextvars.get_contextvars()
