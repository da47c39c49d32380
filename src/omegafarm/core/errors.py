"""The error tree of Omega Bot Farm.

Every error the project raises descends from :class:`OmegaError`. Errors that may succeed when
tried again also inherit the :class:`TransientError` mixin; everything else is permanent.
Third-party exceptions (ccxt, redis, pydantic) are translated at the edge, in one place per
package, with ``raise OurError(...) from exc``::

    OmegaError
    ├── ConfigError                      bad configuration file, variable or argument
    │   └── ContentError                 shipped education content is broken (education.errors)
    ├── ValidationError                  bad input at a boundary (API, CLI, service call)
    │   ├── NotFoundError                the thing asked for does not exist
    │   │   └── UnknownTopicError        no lesson or term by that name (education.errors)
    │   ├── BadQueryError                a search query that cannot run (education.errors)
    │   └── LookAheadError               a signal dated before the data it used (cosmic)
    ├── ServiceError                     a service's own failure
    │   ├── ServiceStateError            a call made in the wrong lifecycle state
    │   ├── DependencyUnavailableError   (transient) a dependency cannot be reached
    │   └── LeaseLostError               a bot's lease moved to another worker (bots.live)
    ├── StoreError                       Redis, translated in one place (store.client)
    │   └── StoreUnavailableError        (transient) the server cannot be reached
    ├── ExchangeError                    exchanges
    │   └── ExchangeCallError            one failed call; exchange.errors draws its subtree
    │                                    (network/timeout/rate limit are transient)
    └── SecurityError                    authentication, authorization, secrets
        ├── AuthenticationError          a credential is missing, wrong or refused
        ├── PermissionDeniedError        known, but not allowed to do this
        ├── CredentialStoreError         the user/token database failed (security.errors)
        └── VaultError                   the credential vault (exchange.credentials)
            ├── VaultKeyError            the master key or passphrase does not open it
            └── VaultIntegrityError      a ciphertext was altered or moved

``AuthenticationError`` and ``PermissionDeniedError`` are defined here once: the security
package raises them for our users, the exchange package raises subclasses of them (which are
also ``ExchangeCallError``) when a venue refuses our API key.

``TransientError`` is a mixin, so ``isinstance(exc, TransientError)`` is the one question a
caller asks before it retries.
"""

from __future__ import annotations


class OmegaError(Exception):
    """Root of every error raised by omegafarm."""


class TransientError(OmegaError):
    """Mixin: the operation may succeed if tried again (network, timeout, overload)."""


class ConfigError(OmegaError):
    """Configuration is invalid: the message names the key, the source and what is allowed."""


class ValidationError(OmegaError):
    """Input at a boundary is invalid: the message says which field and why."""


class NotFoundError(ValidationError):
    """The requested object does not exist."""


class ServiceError(OmegaError):
    """A service failed."""


class ServiceStateError(ServiceError):
    """A call was made while the service was in a state that does not allow it."""


class DependencyUnavailableError(ServiceError, TransientError):
    """A dependency of a service cannot be reached right now."""


class StoreError(OmegaError):
    """The state store (Redis) failed."""


class StoreUnavailableError(StoreError, TransientError):
    """The Redis server cannot be reached right now."""


class ExchangeError(OmegaError):
    """An exchange call failed; omegafarm.exchange.errors refines it."""


class SecurityError(OmegaError):
    """Authentication, authorization or secret handling failed."""


class AuthenticationError(SecurityError):
    """A credential is missing, wrong, expired or refused (ours, or an exchange's API key)."""


class PermissionDeniedError(SecurityError):
    """The caller is known but may not do this (a role too low, a key without the right)."""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may succeed when tried again."""
    return isinstance(exc, TransientError | TimeoutError | ConnectionError)
