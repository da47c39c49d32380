"""``omega keys``: add, list, remove and rotate exchange API keys in the encrypted vault.

The master key comes from ``--key-file`` (or ``OMEGA_MASTER_KEY_FILE``), else
``OMEGA_MASTER_KEY`` (base64 of 32 bytes), else a passphrase (``OMEGA_VAULT_PASSPHRASE`` or a
prompt) stretched with argon2id. Secrets are read from hidden prompts or, with ``--stdin``, one
per line from standard input; they are never printed.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import platformdirs
import typer
from rich.table import Table

from omegafarm.cli._app import console, fail
from omegafarm.core.errors import OmegaError
from omegafarm.exchange.vault import (
    MASTER_KEY_ENV,
    Credentials,
    MasterKey,
    Secret,
    Vault,
    atomic_write,
)

app = typer.Typer(help="Exchange API keys, encrypted at rest.", no_args_is_help=True)

PASSPHRASE_ENV = "OMEGA_VAULT_PASSPHRASE"  # noqa: S105  # a variable name, not a secret
VaultOpt = Annotated[
    Path | None, typer.Option("--vault", envvar="OMEGA_VAULT_PATH", help="Vault file.")
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option("--key-file", envvar="OMEGA_MASTER_KEY_FILE", help="Master key file."),
]
OwnerOpt = Annotated[str, typer.Option("--owner", help="Who the key belongs to.")]
KeyIdOpt = Annotated[
    str | None, typer.Option("--key-id", help="Name of the key (default: exchange).")
]


def default_vault_path() -> Path:
    """Where the vault lives unless ``--vault`` says otherwise."""
    return Path(platformdirs.user_data_dir("omegafarm")) / "vault.json"


def _master(vault_path: Path, key_file: Path | None, *, creating: bool) -> MasterKey:
    if key_file is not None:
        return MasterKey.from_file(key_file)
    from_env = MasterKey.from_env()
    if from_env is not None:
        return from_env
    kdf = Vault.read_kdf(vault_path)
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is None:
        passphrase = str(typer.prompt("Vault passphrase", hide_input=True))
        if creating and kdf is None and not vault_path.exists():
            again = str(typer.prompt("Repeat passphrase", hide_input=True))
            if again != passphrase:
                raise fail("the two passphrases differ")
    if not passphrase:
        raise fail(f"no master key: use --key-file, {MASTER_KEY_ENV} or a non-empty passphrase")
    return MasterKey.from_passphrase(passphrase, kdf)


def _open(vault: Path | None, key_file: Path | None, *, create: bool = False) -> Vault:
    path = vault or default_vault_path()
    try:
        return Vault.open(path, _master(path, key_file, creating=create), create=create)
    except OmegaError as exc:
        raise fail(str(exc)) from None


def _read_secret(label: str, from_stdin: bool, *, optional: bool = False) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if optional:
        return str(typer.prompt(label, default="", hide_input=True, show_default=False))
    return str(typer.prompt(label, hide_input=True))


@app.command("add")
def add(
    exchange: Annotated[str, typer.Argument(help="ccxt exchange id, e.g. binance.")],
    key_id: KeyIdOpt = None,
    owner: OwnerOpt = "default",
    replace: Annotated[bool, typer.Option("--replace", help="Replace an existing key.")] = False,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read api key, secret, passphrase as lines of stdin.")
    ] = False,
    vault: VaultOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Store an API key and secret (and passphrase, if the exchange uses one)."""
    opened = _open(vault, key_file, create=True)
    api_key = _read_secret("API key", stdin)
    secret = _read_secret("API secret", stdin)
    passphrase = _read_secret("API passphrase (empty if none)", stdin, optional=True)
    if not api_key or not secret:
        raise fail("the API key and the secret must not be empty")
    credentials = Credentials(
        exchange=exchange,
        key_id=key_id or exchange,
        owner=owner,
        api_key=Secret(api_key),
        secret=Secret(secret),
        passphrase=Secret(passphrase) if passphrase else None,
    )
    try:
        record = opened.add(credentials, replace=replace)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"key [bold]{owner}/{exchange}/{record.key_id}[/] stored (version {record.key_version})",
        highlight=False,
    )


@app.command("list")
def list_keys(vault: VaultOpt = None, key_file: KeyFileOpt = None) -> None:
    """Show the stored keys (never their secrets)."""
    opened = _open(vault, key_file)
    table = Table("owner", "exchange", "key id", "version", "passphrase", "added (UTC)")
    for record in opened.records():
        added = datetime.fromtimestamp(record.created_at_s, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(
            record.owner,
            record.exchange,
            record.key_id,
            str(record.key_version),
            "yes" if record.has_passphrase else "no",
            added,
        )
    console.print(table)
    console.print(f"master key version {opened.master_version}", highlight=False)


@app.command("remove")
def remove(
    exchange: Annotated[str, typer.Argument(help="ccxt exchange id.")],
    key_id: KeyIdOpt = None,
    owner: OwnerOpt = "default",
    vault: VaultOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Delete one stored key."""
    opened = _open(vault, key_file)
    try:
        opened.remove(owner, exchange, key_id or exchange)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    console.print(f"key {owner}/{exchange}/{key_id or exchange} removed", highlight=False)


@app.command("rotate")
def rotate(
    new_key_file: Annotated[
        Path | None,
        typer.Option("--new-key-file", help="Write a fresh random master key here (mode 0600)."),
    ] = None,
    new_passphrase_stdin: Annotated[
        bool, typer.Option("--new-passphrase-stdin", help="Read the new passphrase from stdin.")
    ] = False,
    vault: VaultOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Re-encrypt every key under a new master key (new key file or new passphrase)."""
    opened = _open(vault, key_file)
    if new_key_file is not None:
        if new_key_file.exists():
            raise fail(f"{new_key_file} exists; choose a new path for the new key")
        new_master = MasterKey.generate()
        atomic_write(new_key_file, new_master.key)
        where = f"new master key written to {new_key_file}"
    else:
        if new_passphrase_stdin:
            passphrase = sys.stdin.readline().rstrip("\r\n")
        else:
            passphrase = str(typer.prompt("New vault passphrase", hide_input=True))
            if str(typer.prompt("Repeat new passphrase", hide_input=True)) != passphrase:
                raise fail("the two passphrases differ")
        if not passphrase:
            raise fail("the new passphrase must not be empty")
        new_master = MasterKey.from_passphrase(passphrase)
        where = "vault now opens with the new passphrase"
    try:
        version = opened.rotate_master(new_master)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    console.print(f"rotated to master key version {version}; {where}", highlight=False)
