"""The credential vault: exchange API keys encrypted at rest with envelope encryption.

Each secret (api key, secret, passphrase) is encrypted with its own random AES-256-GCM data key;
the associated data binds the ciphertext to its owner, exchange, key id, secret name and key
version, so a ciphertext copied into another record fails to decrypt. Data keys are wrapped
(AES-256-GCM again) by the master key, which comes from ``OMEGA_MASTER_KEY`` (base64 of 32
bytes), a key file, or a passphrase stretched with argon2id (salt and cost stored in the
file). A check value encrypted under the master key turns a wrong passphrase into a clear
:class:`VaultKeyError` instead of a pile of authentication failures. The file is JSON, written
atomically with mode 0600. Rotation re-encrypts every secret under fresh data keys and a new
master key and bumps ``master_version``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from omegafarm.core.errors import NotFoundError
from omegafarm.exchange.config import VaultSettings
from omegafarm.exchange.credentials import (
    MASTER_KEY_ENV,
    Credentials,
    MasterKey,
    Secret,
    VaultError,
    VaultIntegrityError,
    VaultKeyError,
    b64,
    rand_bytes,
    unb64,
)

__all__ = [
    "MASTER_KEY_ENV",
    "Credentials",
    "KeyRecord",
    "MasterKey",
    "Secret",
    "Vault",
    "VaultError",
    "VaultIntegrityError",
    "VaultKeyError",
    "atomic_write",
    "default_vault_path",
    "open_vault",
]

FORMAT = "omegafarm-vault/1"
SECRET_NAMES = ("api_key", "secret", "passphrase")
_CHECK_PLAINTEXT = b"omegafarm vault key check"


@dataclass(frozen=True)
class KeyRecord:
    """What ``omega keys list`` shows about a stored key: never a secret."""

    owner: str
    exchange: str
    key_id: str
    key_version: int
    created_at_s: float
    has_passphrase: bool


def _aad(owner: str, exchange: str, key_id: str, name: str, version: int, part: str) -> bytes:
    return json.dumps([FORMAT, owner, exchange, key_id, name, version, part]).encode()


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.chmod(path, mode)


class Vault:
    """Encrypted API keys in one JSON file; open it with the master key that created it."""

    def __init__(self, path: Path, master: MasterKey, document: dict[str, Any]) -> None:
        self._path = path
        self._master = master
        self._doc = document

    def __repr__(self) -> str:
        return f"<Vault path={str(self._path)!r} records={len(self._doc['records'])}>"

    # ----------------------------------------------------------------- opening
    @staticmethod
    def read_kdf(path: Path) -> Mapping[str, Any] | None:
        """The passphrase KDF parameters stored in the file (None: key-based or no file)."""
        if not path.exists():
            return None
        kdf = Vault._load(path).get("kdf")
        return kdf if isinstance(kdf, dict) else None

    @classmethod
    def open(cls, path: Path, master: MasterKey, *, create: bool = False) -> Vault:
        """Open ``path`` (or create an empty vault when ``create``); check the master key."""
        if not path.exists():
            if not create:
                raise VaultError(f"no vault at {path}; add a key first (omega keys add)")
            doc: dict[str, Any] = {"format": FORMAT, "master_version": 1, "records": []}
            vault = cls(path, master, doc)
            vault._set_check()
            return vault
        doc = cls._load(path)
        vault = cls(path, master, doc)
        vault._verify_master()
        return vault

    @staticmethod
    def _load(path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VaultError(f"cannot read vault {path}: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise VaultError(f"{path} is not an omegafarm vault ({FORMAT})")
        return doc

    def _set_check(self) -> None:
        nonce = rand_bytes(12)
        version = int(self._doc["master_version"])
        sealed = AESGCM(self._master.key).encrypt(nonce, _CHECK_PLAINTEXT, _check_aad(version))
        self._doc["kdf"] = dict(self._master.kdf) if self._master.kdf else None
        self._doc["check"] = {"nonce": b64(nonce), "ciphertext": b64(sealed)}

    def _verify_master(self) -> None:
        check = self._doc.get("check") or {}
        version = int(self._doc.get("master_version", 1))
        try:
            AESGCM(self._master.key).decrypt(
                unb64(check["nonce"]), unb64(check["ciphertext"]), _check_aad(version)
            )
        except (InvalidTag, KeyError, TypeError):
            how = "passphrase" if self._doc.get("kdf") else "master key"
            raise VaultKeyError(
                f"wrong {how} for vault {self._path} (the key check failed); nothing was decrypted"
            ) from None

    # ----------------------------------------------------------------- records
    @property
    def master_version(self) -> int:
        """How many times the master key was set (1 at creation, +1 per rotation)."""
        return int(self._doc["master_version"])

    def records(self) -> list[KeyRecord]:
        """Every stored key, without secrets."""
        return [
            KeyRecord(
                owner=r["owner"],
                exchange=r["exchange"],
                key_id=r["key_id"],
                key_version=int(r["key_version"]),
                created_at_s=float(r["created_at_s"]),
                has_passphrase="passphrase" in r["secrets"],
            )
            for r in self._doc["records"]
        ]

    def _find(self, owner: str, exchange: str, key_id: str) -> dict[str, Any] | None:
        for record in self._doc["records"]:
            if (record["owner"], record["exchange"], record["key_id"]) == (owner, exchange, key_id):
                return record  # type: ignore[no-any-return]  # JSON document
        return None

    def add(self, credentials: Credentials, *, replace: bool = False) -> KeyRecord:
        """Store ``credentials`` (``replace`` bumps the key version of an existing record)."""
        c = credentials
        old = self._find(c.owner, c.exchange, c.key_id)
        if old is not None and not replace:
            raise VaultError(
                f"key {c.owner}/{c.exchange}/{c.key_id} exists; remove it or use replace"
            )
        version = int(old["key_version"]) + 1 if old is not None else 1
        values = {"api_key": c.api_key, "secret": c.secret, "passphrase": c.passphrase}
        record: dict[str, Any] = {
            "owner": c.owner,
            "exchange": c.exchange,
            "key_id": c.key_id,
            "key_version": version,
            "created_at_s": time.time(),
            "secrets": {
                name: self._seal(c.owner, c.exchange, c.key_id, name, version, value.reveal())
                for name, value in values.items()
                if value is not None and value
            },
        }
        if old is not None:
            self._doc["records"].remove(old)
        self._doc["records"].append(record)
        self.save()
        return self.records()[-1]

    def get(self, owner: str, exchange: str, key_id: str) -> Credentials:
        """Decrypt one record; NotFoundError when absent, VaultIntegrityError when tampered."""
        record = self._find(owner, exchange, key_id)
        if record is None:
            raise NotFoundError(f"no key {owner}/{exchange}/{key_id} in vault {self._path}")
        opened = {
            name: Secret(self._open_secret(record, name, sealed))
            for name, sealed in record["secrets"].items()
        }
        if "api_key" not in opened or "secret" not in opened:
            raise VaultError(f"key {owner}/{exchange}/{key_id} lacks its api key or secret")
        return Credentials(
            exchange=exchange,
            key_id=key_id,
            owner=owner,
            api_key=opened["api_key"],
            secret=opened["secret"],
            passphrase=opened.get("passphrase"),
        )

    def remove(self, owner: str, exchange: str, key_id: str) -> None:
        """Delete one record; NotFoundError when absent."""
        record = self._find(owner, exchange, key_id)
        if record is None:
            raise NotFoundError(f"no key {owner}/{exchange}/{key_id} in vault {self._path}")
        self._doc["records"].remove(record)
        self.save()

    def rotate_master(self, new_master: MasterKey) -> int:
        """Re-encrypt every secret with fresh data keys under ``new_master``; new version."""
        opened = [(r, self.get(r["owner"], r["exchange"], r["key_id"])) for r in self._records()]
        self._master = new_master
        self._doc["master_version"] = self.master_version + 1
        self._set_check()
        for record, creds in opened:
            values = {"api_key": creds.api_key, "secret": creds.secret, "passphrase": None}
            if creds.passphrase is not None:
                values["passphrase"] = creds.passphrase
            record["secrets"] = {
                name: self._seal(
                    creds.owner,
                    creds.exchange,
                    creds.key_id,
                    name,
                    int(record["key_version"]),
                    value.reveal(),
                )
                for name, value in values.items()
                if value is not None
            }
        self.save()
        return self.master_version

    def _records(self) -> Iterator[dict[str, Any]]:
        yield from list(self._doc["records"])

    def save(self) -> None:
        """Write the vault atomically with mode 0600."""
        atomic_write(self._path, json.dumps(self._doc, indent=1).encode("utf-8"))

    # ----------------------------------------------------------------- crypto
    def _seal(
        self, owner: str, exchange: str, key_id: str, name: str, version: int, plaintext: str
    ) -> dict[str, str]:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce, wrap_nonce = rand_bytes(12), rand_bytes(12)
        ciphertext = AESGCM(data_key).encrypt(
            nonce, plaintext.encode("utf-8"), _aad(owner, exchange, key_id, name, version, "data")
        )
        wrapped = AESGCM(self._master.key).encrypt(
            wrap_nonce, data_key, _aad(owner, exchange, key_id, name, version, "key")
        )
        return {
            "nonce": b64(nonce),
            "ciphertext": b64(ciphertext),
            "wrap_nonce": b64(wrap_nonce),
            "wrapped_key": b64(wrapped),
        }

    def _open_secret(self, record: Mapping[str, Any], name: str, sealed: Mapping[str, Any]) -> str:
        owner, exchange, key_id = record["owner"], record["exchange"], record["key_id"]
        version = int(record["key_version"])
        try:
            data_key = AESGCM(self._master.key).decrypt(
                unb64(sealed["wrap_nonce"]),
                unb64(sealed["wrapped_key"]),
                _aad(owner, exchange, key_id, name, version, "key"),
            )
            plaintext = AESGCM(data_key).decrypt(
                unb64(sealed["nonce"]),
                unb64(sealed["ciphertext"]),
                _aad(owner, exchange, key_id, name, version, "data"),
            )
        except (InvalidTag, KeyError, TypeError):
            raise VaultIntegrityError(
                f"{name} of key {owner}/{exchange}/{key_id} failed authentication: "
                "the vault entry was altered or moved from another record"
            ) from None
        return plaintext.decode("utf-8")


def _check_aad(version: int) -> bytes:
    return json.dumps([FORMAT, "check", version]).encode()


def default_vault_path() -> Path:
    """Where the vault lives unless ``[vault] path`` says otherwise."""
    return platformdirs.user_data_path("omegafarm") / "vault.json"


PassphrasePrompt = Callable[[bool], str]
"""Asks a person for the passphrase; its argument says a new vault is being made (confirm it)."""


def master_key_of(
    settings: VaultSettings, path: Path, *, prompt: PassphrasePrompt | None = None
) -> MasterKey:
    """The master key ``settings`` name: key file, else key, else passphrase, else ``prompt``."""
    if settings.master_key_file is not None:
        return MasterKey.from_file(settings.master_key_file)
    if settings.master_key is not None:
        secret = settings.master_key.get_secret_value()
        return MasterKey.from_base64(secret, source="vault.master_key")
    kdf = Vault.read_kdf(path)
    if settings.passphrase is not None:
        passphrase = settings.passphrase.get_secret_value()
    elif prompt is not None:
        passphrase = prompt(kdf is None and not path.exists())
    else:
        raise VaultKeyError(
            "no master key: set vault.master_key_file, vault.master_key or vault.passphrase "
            f"(or {MASTER_KEY_ENV}, OMEGA_MASTER_KEY_FILE, OMEGA_VAULT_PASSPHRASE)"
        )
    if not passphrase:
        raise VaultKeyError("the vault passphrase must not be empty")
    return MasterKey.from_passphrase(passphrase, kdf)


def open_vault(
    settings: VaultSettings, *, create: bool = False, prompt: PassphrasePrompt | None = None
) -> Vault:
    """The vault ``settings`` describe, opened with its master key: the one way in, used by
    ``omega keys`` and ``omega up`` alike. ``VaultError`` says what is missing or wrong."""
    path = settings.path or default_vault_path()
    return Vault.open(path, master_key_of(settings, path, prompt=prompt), create=create)
