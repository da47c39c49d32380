"""``omega keys``: add, list, remove and rotate through the real command line."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.exchange.vault import MasterKey, Vault

API_KEY = "cli-api-key-5a5a"
API_SECRET = "cli-secret-b0b0-top"


def _run(args: list[str], stdin: str = "", env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    clean = {"OMEGA_MASTER_KEY": "", "OMEGA_VAULT_PASSPHRASE": "", "OMEGA_MASTER_KEY_FILE": ""}
    return CliRunner().invoke(app, args, input=stdin, env={**clean, **(env or {})})


def test_add_list_remove_with_a_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_bytes(b"m" * 32)
    common = ["--vault", str(tmp_path / "v.json"), "--key-file", str(key_file)]

    added = _run(["keys", "add", "binance", "--stdin", *common], f"{API_KEY}\n{API_SECRET}\n\n")
    listed = _run(["keys", "list", *common])
    removed = _run(["keys", "remove", "binance", *common])
    again = _run(["keys", "remove", "binance", *common])

    assert added.exit_code == 0, added.output
    assert "default/binance/binance" in added.output
    assert listed.exit_code == 0
    assert "binance" in listed.output
    for result in (added, listed, removed):
        assert API_KEY not in result.output
        assert API_SECRET not in result.output
    assert removed.exit_code == 0
    assert again.exit_code == 2
    assert "no key default/binance/binance" in again.output
    assert "Traceback" not in again.output


def test_wrong_passphrase_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    vault = ["--vault", str(tmp_path / "v.json")]
    first = _run(
        ["keys", "add", "kraken", "--stdin", *vault],
        f"{API_KEY}\n{API_SECRET}\n\n",
        env={"OMEGA_VAULT_PASSPHRASE": "right passphrase"},
    )
    wrong = _run(["keys", "list", *vault], env={"OMEGA_VAULT_PASSPHRASE": "wrong passphrase"})
    assert first.exit_code == 0, first.output
    assert wrong.exit_code == 2
    assert "wrong passphrase for vault" in wrong.output
    assert "Traceback" not in wrong.output


def test_rotate_to_a_new_key_file(tmp_path: Path) -> None:
    old_key, new_key = tmp_path / "old.key", tmp_path / "new.key"
    old_key.write_bytes(b"o" * 32)
    path = tmp_path / "v.json"
    old = ["--vault", str(path), "--key-file", str(old_key)]
    _run(["keys", "add", "binance", "--stdin", *old], f"{API_KEY}\n{API_SECRET}\n\n")

    rotated = _run(["keys", "rotate", "--new-key-file", str(new_key), *old])

    assert rotated.exit_code == 0, rotated.output
    assert "master key version 2" in rotated.output
    assert stat.S_IMODE(new_key.stat().st_mode) == 0o600
    vault = Vault.open(path, MasterKey.from_file(new_key))
    assert vault.get("default", "binance", "binance").secret.reveal() == API_SECRET
    stale = _run(["keys", "list", *old])
    assert stale.exit_code == 2
    assert "wrong master key" in stale.output
