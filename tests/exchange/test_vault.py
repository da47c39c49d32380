"""The credential vault: envelope encryption that detects tampering, moves and wrong keys."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from omegafarm.core.errors import NotFoundError
from omegafarm.exchange.vault import (
    Credentials,
    MasterKey,
    Secret,
    Vault,
    VaultError,
    VaultIntegrityError,
    VaultKeyError,
)

API_KEY = "AKIA-test-api-key-7f3c"
API_SECRET = "s3cr3t-value-9d1e-very-secret"
PASSPHRASE = "coinbase-pass-42"


def _creds(exchange: str = "binance", key_id: str = "main", owner: str = "alice") -> Credentials:
    return Credentials(
        exchange=exchange,
        key_id=key_id,
        owner=owner,
        api_key=Secret(API_KEY),
        secret=Secret(API_SECRET),
        passphrase=Secret(PASSPHRASE),
    )


def _new_vault(tmp_path: Path, master: MasterKey | None = None) -> Vault:
    return Vault.open(tmp_path / "vault.json", master or MasterKey(b"k" * 32), create=True)


def test_round_trip_returns_the_same_secrets(tmp_path: Path) -> None:
    vault = _new_vault(tmp_path)
    vault.add(_creds())
    reopened = Vault.open(tmp_path / "vault.json", MasterKey(b"k" * 32))
    got = reopened.get("alice", "binance", "main")
    assert got.api_key.reveal() == API_KEY
    assert got.secret.reveal() == API_SECRET
    assert got.passphrase is not None
    assert got.passphrase.reveal() == PASSPHRASE
    assert got.ccxt_config() == {"apiKey": API_KEY, "secret": API_SECRET, "password": PASSPHRASE}


def test_file_holds_no_plaintext_and_has_mode_0600(tmp_path: Path) -> None:
    _new_vault(tmp_path).add(_creds())
    path = tmp_path / "vault.json"
    text = path.read_text()
    for secret in (API_KEY, API_SECRET, PASSPHRASE):
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_each_secret_has_its_own_data_key(tmp_path: Path) -> None:
    _new_vault(tmp_path).add(_creds())
    record = json.loads((tmp_path / "vault.json").read_text())["records"][0]
    wrapped = {sealed["wrapped_key"] for sealed in record["secrets"].values()}
    assert len(wrapped) == 3


def test_tampered_ciphertext_fails_authentication(tmp_path: Path) -> None:
    _new_vault(tmp_path).add(_creds())
    path = tmp_path / "vault.json"
    doc = json.loads(path.read_text())
    raw = bytearray(base64.b64decode(doc["records"][0]["secrets"]["secret"]["ciphertext"]))
    raw[0] ^= 0x01
    doc["records"][0]["secrets"]["secret"]["ciphertext"] = base64.b64encode(raw).decode()
    path.write_text(json.dumps(doc))
    vault = Vault.open(path, MasterKey(b"k" * 32))
    with pytest.raises(VaultIntegrityError, match="secret of key alice/binance/main failed"):
        vault.get("alice", "binance", "main")


@pytest.mark.parametrize(
    ("owner", "exchange", "key_id"),
    [("mallory", "binance", "main"), ("alice", "kraken", "main"), ("alice", "binance", "other")],
    ids=["other-owner", "other-exchange", "other-key-id"],
)
def test_ciphertext_moved_to_another_record_fails(
    tmp_path: Path, owner: str, exchange: str, key_id: str
) -> None:
    vault = _new_vault(tmp_path)
    vault.add(_creds())
    vault.add(_creds(exchange=exchange, key_id=key_id, owner=owner))
    path = tmp_path / "vault.json"
    doc = json.loads(path.read_text())
    doc["records"][1]["secrets"] = doc["records"][0]["secrets"]  # copy alice's sealed secrets
    path.write_text(json.dumps(doc))
    moved = Vault.open(path, MasterKey(b"k" * 32))
    assert moved.get("alice", "binance", "main").secret.reveal() == API_SECRET
    with pytest.raises(VaultIntegrityError, match="altered or moved"):
        moved.get(owner, exchange, key_id)


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    master = MasterKey.from_passphrase("correct horse battery staple")
    _new_vault(tmp_path, master).add(_creds())
    path = tmp_path / "vault.json"
    wrong = MasterKey.from_passphrase("correct horse battery stapler", Vault.read_kdf(path))
    with pytest.raises(VaultKeyError) as caught:
        Vault.open(path, wrong)
    assert str(caught.value) == (
        f"wrong passphrase for vault {path} (the key check failed); nothing was decrypted"
    )
    right = MasterKey.from_passphrase("correct horse battery staple", Vault.read_kdf(path))
    assert Vault.open(path, right).get("alice", "binance", "main").api_key.reveal() == API_KEY


def test_rotation_reencrypts_under_the_new_master_key(tmp_path: Path) -> None:
    vault = _new_vault(tmp_path)
    vault.add(_creds())
    path = tmp_path / "vault.json"
    before = json.loads(path.read_text())["records"][0]["secrets"]["secret"]
    new_master = MasterKey(b"n" * 32)
    assert vault.rotate_master(new_master) == 2
    after = json.loads(path.read_text())["records"][0]["secrets"]["secret"]
    assert after["ciphertext"] != before["ciphertext"]
    assert after["wrapped_key"] != before["wrapped_key"]
    with pytest.raises(VaultKeyError):
        Vault.open(path, MasterKey(b"k" * 32))
    reopened = Vault.open(path, new_master)
    assert reopened.master_version == 2
    assert reopened.get("alice", "binance", "main").secret.reveal() == API_SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_replacing_a_key_bumps_its_version(tmp_path: Path) -> None:
    vault = _new_vault(tmp_path)
    vault.add(_creds())
    with pytest.raises(VaultError, match="exists"):
        vault.add(_creds())
    record = vault.add(_creds(), replace=True)
    assert record.key_version == 2
    assert vault.get("alice", "binance", "main").secret.reveal() == API_SECRET


def test_remove_and_missing_key(tmp_path: Path) -> None:
    vault = _new_vault(tmp_path)
    vault.add(_creds())
    vault.remove("alice", "binance", "main")
    with pytest.raises(NotFoundError, match="no key alice/binance/main"):
        vault.get("alice", "binance", "main")


def test_master_key_sources_are_validated() -> None:
    key = base64.b64encode(b"x" * 32).decode()
    assert MasterKey.from_env({"OMEGA_MASTER_KEY": key}) == MasterKey(b"x" * 32)
    assert MasterKey.from_env({}) is None
    with pytest.raises(VaultKeyError, match="must decode to 32 bytes, got 3"):
        MasterKey.from_env({"OMEGA_MASTER_KEY": base64.b64encode(b"abc").decode()})
    with pytest.raises(VaultKeyError, match="not valid base64"):
        MasterKey.from_env({"OMEGA_MASTER_KEY": "%%%"})


def test_credentials_never_show_secrets() -> None:
    creds = _creds()
    for text in (repr(creds), str(creds), f"{creds}", repr(creds.secret), f"{creds.api_key}"):
        assert API_KEY not in text
        assert API_SECRET not in text
        assert PASSPHRASE not in text
    assert "alice" in repr(creds)
