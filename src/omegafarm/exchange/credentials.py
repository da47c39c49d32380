"""API credentials and the master key: values that never show themselves.

``Secret`` hides a string from ``repr``/``str``/f-strings; ``Credentials`` bundles an exchange
account's secrets; ``MasterKey`` is the 32-byte key that wraps the vault's data keys, from
``OMEGA_MASTER_KEY``, a key file or a passphrase through argon2id. Kept apart from ``vault`` so
that code which only passes credentials around does not import the file format.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from omegafarm.core.errors import SecurityError

MASTER_KEY_ENV = "OMEGA_MASTER_KEY"
_ARGON2 = {"time_cost": 3, "memory_cost_kib": 65536, "parallelism": 2}


class VaultError(SecurityError):
    """The vault file is missing, unreadable or inconsistent."""


class VaultKeyError(VaultError):
    """The master key or passphrase does not open this vault."""


class VaultIntegrityError(VaultError):
    """A ciphertext failed authentication: it was altered or moved to another record."""


class Secret:
    """A string that never shows itself in ``repr``/``str``/f-strings; ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value (pass it straight to the library that needs it)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not picklable")


@dataclass(frozen=True, repr=False)
class Credentials:
    """API credentials of one exchange account; repr and str name the record, never a secret."""

    exchange: str
    key_id: str
    api_key: Secret
    secret: Secret
    passphrase: Secret | None = None
    owner: str = "default"

    def __repr__(self) -> str:
        return (
            f"Credentials(owner={self.owner!r}, exchange={self.exchange!r}, "
            f"key_id={self.key_id!r}, secrets=redacted)"
        )

    __str__ = __repr__

    def ccxt_config(self) -> dict[str, str]:
        """The ccxt constructor keys (``apiKey``, ``secret``, ``password``)."""
        config = {"apiKey": self.api_key.reveal(), "secret": self.secret.reveal()}
        if self.passphrase is not None and self.passphrase:
            config["password"] = self.passphrase.reveal()
        return config

    def revealed(self) -> tuple[str, ...]:
        """Every secret value, for redacting them from text that might quote them."""
        values = [self.api_key.reveal(), self.secret.reveal()]
        if self.passphrase is not None:
            values.append(self.passphrase.reveal())
        return tuple(v for v in values if v)


@dataclass(frozen=True)
class MasterKey:
    """32 bytes that wrap the data keys; ``kdf`` records how a passphrase produced them."""

    key: bytes = field(repr=False)
    kdf: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise VaultKeyError(f"a master key must be 32 bytes, got {len(self.key)}")

    @classmethod
    def generate(cls) -> MasterKey:
        """A fresh random master key."""
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def from_base64(cls, text: str, *, source: str = MASTER_KEY_ENV) -> MasterKey:
        """A key given as base64 of 32 bytes (``source`` names where it came from)."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise VaultKeyError(f"{source} is not valid base64 (expected 32 bytes)") from None
        if len(raw) != 32:
            raise VaultKeyError(f"{source} must decode to 32 bytes, got {len(raw)}")
        return cls(raw)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MasterKey | None:
        """The key in ``OMEGA_MASTER_KEY``, or None when the variable is unset."""
        env = os.environ if environ is None else environ
        text = env.get(MASTER_KEY_ENV)
        return cls.from_base64(text) if text else None

    @classmethod
    def from_file(cls, path: Path) -> MasterKey:
        """A key file holding 32 raw bytes or their base64."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise VaultKeyError(f"cannot read master key file {path}: {exc.strerror}") from None
        if len(raw) == 32:
            return cls(raw)
        return cls.from_base64(raw.decode("ascii", "replace"), source=f"key file {path}")

    @classmethod
    def from_passphrase(cls, passphrase: str, kdf: Mapping[str, Any] | None = None) -> MasterKey:
        """argon2id of ``passphrase`` with the vault's salt and costs (new ones if None)."""
        params: dict[str, Any] = (
            dict(kdf) if kdf else {"type": "argon2id", **_ARGON2, "salt": b64(rand_bytes(16))}
        )
        key = hash_secret_raw(
            passphrase.encode("utf-8"),
            unb64(str(params["salt"])),
            time_cost=int(params["time_cost"]),
            memory_cost=int(params["memory_cost_kib"]),
            parallelism=int(params["parallelism"]),
            hash_len=32,
            type=Type.ID,
        )
        return cls(key, params)


def rand_bytes(n: int) -> bytes:
    """``n`` random bytes from the OS."""
    return secrets.token_bytes(n)


def b64(data: bytes) -> str:
    """Base64 text of ``data``."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Bytes of base64 ``text``; a VaultError when it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VaultError("vault file holds invalid base64") from None
