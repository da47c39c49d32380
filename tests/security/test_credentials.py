"""Tokens, passwords and users: digests only, constant-time checks, expiry, revocation,
bounded argon2 concurrency, and the ``omega users`` / ``omega tokens`` commands."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.core.errors import NotFoundError, ValidationError
from omegafarm.security import AuthenticationError, Role, SecurityService, read_file, tokens
from omegafarm.security.passwords import PasswordHasher
from tests.api.conftest import fast_security_settings

PASSWORD = "correct horse battery staple"


class Clock:
    """A settable clock (seconds)."""

    def __init__(self) -> None:
        self.now_s = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
async def service(tmp_path: Path) -> SecurityService:
    clock = Clock()
    svc = SecurityService(fast_security_settings(tmp_path), clock=clock)
    await svc.initialize()
    svc.test_clock = clock  # type: ignore[attr-defined]
    return svc


def test_tokens_are_256_bit_with_a_public_prefix() -> None:
    issued = tokens.issue()
    kind, prefix, secret = issued.value.split("_", 2)
    assert kind == "omg" and prefix == issued.prefix and len(prefix) == 12
    assert len(secret) == 43  # 32 bytes in base64url
    assert tokens.parse(issued.value) == ("omg", prefix)
    assert issued.value not in repr(issued)
    assert len({tokens.issue().value for _ in range(1000)}) == 1000


async def test_only_an_hmac_digest_is_stored(service: SecurityService, tmp_path: Path) -> None:
    await service.add_user("ann", Role.TRADER, PASSWORD, actor="t")
    issued = await service.create_token("ann", actor="t")
    raw = (tmp_path / "credentials.sqlite3").read_bytes()
    wal = tmp_path / "credentials.sqlite3-wal"
    stored = raw + (wal.read_bytes() if wal.exists() else b"")
    secret_part = issued.value.split("_", 2)[2]
    assert secret_part.encode() not in stored
    assert PASSWORD.encode() not in stored
    with sqlite3.connect(tmp_path / "credentials.sqlite3") as db:
        (digest,) = db.execute("SELECT digest FROM credentials").fetchone()
        (hashed,) = db.execute("SELECT password_hash FROM users").fetchone()
    assert len(digest) == 64 and digest != issued.value
    assert hashed.startswith("$argon2id$")


async def test_authenticate_accepts_the_token_and_rejects_tampered_ones(
    service: SecurityService,
) -> None:
    await service.add_user("ann", Role.VIEWER, None, actor="t")
    issued = await service.create_token("ann", actor="t")
    principal = service.authenticate(issued.value, "omg")
    assert (principal.user, principal.role, principal.credential_id) == (
        "ann",
        Role.VIEWER,
        issued.prefix,
    )
    flipped = issued.value[:-1] + ("A" if issued.value[-1] != "A" else "B")
    with pytest.raises(AuthenticationError):
        service.authenticate(flipped, "omg")
    with pytest.raises(AuthenticationError):
        service.authenticate(issued.value, "oms")  # a token is not a session


async def test_expired_and_revoked_tokens_fail(service: SecurityService) -> None:
    await service.add_user("ann", Role.VIEWER, None, actor="t")
    short = await service.create_token("ann", actor="t", ttl_s=60)
    revoked = await service.create_token("ann", actor="t")
    await service.revoke_token(revoked.prefix, actor="t")
    service.test_clock.now_s += 61  # type: ignore[attr-defined]
    with pytest.raises(AuthenticationError, match="expired"):
        service.authenticate(short.value, "omg")
    with pytest.raises(AuthenticationError, match="revoked"):
        service.authenticate(revoked.value, "omg")


async def test_removing_a_user_removes_their_tokens(service: SecurityService) -> None:
    await service.add_user("ann", Role.ADMIN, None, actor="t")
    issued = await service.create_token("ann", actor="t")
    await service.remove_user("ann", actor="t")
    with pytest.raises(AuthenticationError):
        service.authenticate(issued.value, "omg")
    assert service.list_tokens() == []
    with pytest.raises(NotFoundError):
        await service.remove_user("ann", actor="t")


async def test_bad_user_input_is_a_validation_error(service: SecurityService) -> None:
    with pytest.raises(ValidationError, match="invalid"):
        await service.add_user("Bad Name", Role.VIEWER, None, actor="t")
    with pytest.raises(ValidationError, match="at least"):
        await service.add_user("ann", Role.VIEWER, "short", actor="t")
    with pytest.raises(ValidationError, match="unknown role"):
        Role.parse("boss")


async def test_password_checks_run_at_most_n_at_a_time() -> None:
    hasher = PasswordHasher(memory_kib=1024, time_cost=1, parallelism=1, max_concurrent=2)
    stored = hasher.hash(PASSWORD)
    active = 0
    peak = 0
    lock = threading.Lock()
    original = hasher._verify

    def counting(stored_hash: str | None, password: str) -> bool:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return original(stored_hash, password)
        finally:
            with lock:
                active -= 1

    hasher._verify = counting  # type: ignore[method-assign]
    results = await asyncio.gather(*(hasher.verify(stored, PASSWORD) for _ in range(12)))
    assert all(results)
    assert peak <= 2
    assert not await hasher.verify(stored, "wrong password")
    assert not await hasher.verify(None, PASSWORD)  # unknown user: dummy hash, still False


def test_cli_users_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    runner = cli
    added = runner.invoke(
        app, ["users", "add", "ann", "--role", "trader", "--password-stdin"], input=PASSWORD + "\n"
    )
    again = runner.invoke(app, ["users", "add", "ann", "--no-password"])
    bad_role = runner.invoke(app, ["users", "add", "bob", "--role", "boss", "--no-password"])
    created = runner.invoke(app, ["tokens", "create", "--user", "ann"])
    token = created.output.strip().splitlines()[-1]
    listed = runner.invoke(app, ["tokens", "list"])
    prefix = token.split("_")[1]
    revoked = runner.invoke(app, ["tokens", "revoke", prefix])
    users = runner.invoke(app, ["users", "list"])
    missing = runner.invoke(app, ["tokens", "create", "--user", "nobody"])
    assert added.exit_code == 0, added.output
    assert again.exit_code == 2 and "already exists" in again.output
    assert bad_role.exit_code == 2 and "unknown role" in bad_role.output
    assert created.exit_code == 0 and tokens.parse(token) is not None
    assert prefix in listed.output and token not in listed.output
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "ann" in users.output and "trader" in users.output
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    audit = read_file(tmp_path / "omegafarm" / "security" / "audit.jsonl")
    assert [e["action"] for e in audit if e][:3] == ["user_add", "user_add", "token_create"]
    assert all(token not in str(e) and PASSWORD not in str(e) for e in audit)
