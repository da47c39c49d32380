"""The audit chain detects every edit, deletion, insertion and reordering; the Redis mirror
catches a file rewritten from scratch or cut short; ``omega audit verify`` exits 0 or 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.security import AuditLog, read_file, verify_entries
from omegafarm.security.audit import GENESIS, canonical, entry_hash
from omegafarm.store import RedisClient


async def _log(path: Path, redis: RedisClient | None = None, n: int = 6) -> AuditLog:
    log = AuditLog(path, redis=redis)
    for i in range(n):
        await log.append("order_create", actor=f"user{i % 2}", order_id=f"o{i}", amount="0.1")
    return log


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


async def test_an_intact_chain_verifies(tmp_path: Path) -> None:
    log = await _log(tmp_path / "audit.jsonl")
    result = log.verify_file()
    assert result.ok and result.entries == 6
    first = read_file(log.path)[0]
    assert first is not None and first["prev"] == GENESIS and first["seq"] == 1


def _edit(lines: list[str]) -> list[str]:
    entry = json.loads(lines[2])
    entry["details"]["amount"] = "100"
    return [*lines[:2], json.dumps(entry), *lines[3:]]


def _edit_and_rehash(lines: list[str]) -> list[str]:
    entry = json.loads(lines[2])
    entry["actor"] = "mallory"
    entry["hash"] = entry_hash(entry)
    return [*lines[:2], canonical(entry).decode(), *lines[3:]]


def _insert(lines: list[str]) -> list[str]:
    prev = json.loads(lines[1])
    forged = {
        "seq": 3,
        "ts_ms": 1,
        "action": "login",
        "actor": "x",
        "outcome": "ok",
        "details": {},
        "prev": prev["hash"],
    }
    forged["hash"] = entry_hash(forged)
    return [*lines[:2], canonical(forged).decode(), *lines[2:]]


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (_edit, 3),
        (_edit_and_rehash, 4),
        (lambda ls: ls[:2] + ls[3:], 3),
        (_insert, 4),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], 2),
        (lambda ls: [*ls[:4], "{not json", *ls[5:]], 5),
    ],
    ids=["edit", "edit-and-rehash", "delete", "insert", "reorder", "garble"],
)
async def test_tampering_is_detected_at_the_first_bad_entry(
    tmp_path: Path, tamper: object, first_bad: int
) -> None:
    log = await _log(tmp_path / "audit.jsonl")
    _write(log.path, tamper(_lines(log.path)))  # type: ignore[operator]
    result = verify_entries(read_file(log.path))
    assert not result.ok
    assert result.first_bad == first_bad
    assert f"entry {first_bad}" in result.message


async def test_mirror_catches_a_fully_rewritten_file(
    tmp_path: Path, redis_client: RedisClient
) -> None:
    log = await _log(tmp_path / "audit.jsonl", redis_client)
    entries = [json.loads(line) for line in _lines(log.path)]
    prev = GENESIS
    for entry in entries:  # rewrite every entry consistently: the file alone looks fine
        entry["actor"] = "mallory"
        entry["prev"] = prev
        entry["hash"] = entry_hash(entry)
        prev = entry["hash"]
    _write(log.path, [canonical(e).decode() for e in entries])
    assert log.verify_file().ok
    result = await log.verify()
    assert not result.ok and result.first_bad == 1 and "mirror" in result.reason


async def test_mirror_catches_a_cut_tail(tmp_path: Path, redis_client: RedisClient) -> None:
    log = await _log(tmp_path / "audit.jsonl", redis_client)
    _write(log.path, _lines(log.path)[:-2])
    assert log.verify_file().ok
    result = await log.verify()
    assert not result.ok and result.first_bad == 5


async def test_mirror_and_file_agree_when_untouched(
    tmp_path: Path, redis_client: RedisClient
) -> None:
    log = await _log(tmp_path / "audit.jsonl", redis_client)
    assert len(await log.stream_entries()) == 6
    assert (await log.verify()).ok


async def test_appends_continue_the_chain_after_reopening(tmp_path: Path) -> None:
    await _log(tmp_path / "audit.jsonl", n=3)
    again = await _log(tmp_path / "audit.jsonl", n=3)  # a second process, same file
    assert again.verify_file().ok and again.verify_file().entries == 6


async def test_cli_audit_verify_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    path = tmp_path / "omegafarm" / "security" / "audit.jsonl"
    await _log(path)
    runner = cli
    ok = runner.invoke(app, ["audit", "verify"])
    lines = _lines(path)
    _write(path, [lines[0], lines[2], lines[1], *lines[3:]])
    bad = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    assert bad.exit_code == 1
    assert "entry 2" in bad.output
