"""``omega keys``: add, list, remove and rotate exchange API keys in the encrypted vault.

The vault is opened by :func:`omegafarm.exchange.vault.open_vault` from the ``[vault]`` settings,
as ``omega up`` opens it: ``--vault`` and ``--key-file`` override ``vault.path`` and
``vault.master_key_file``; else ``vault.master_key`` (``OMEGA_MASTER_KEY``, base64 of 32 bytes),
else ``vault.passphrase`` (``OMEGA_VAULT_PASSPHRASE``) or a prompt, stretched with argon2id.
Secrets are read from hidden prompts or, with ``--stdin``, one per line from standard input;
they are never printed.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from omegafarm.cli._app import console, fail, load_settings_or_exit
from omegafarm.core.errors import OmegaError
from omegafarm.exchange.vault import (
    Credentials,
    MasterKey,
    Secret,
    Vault,
    atomic_write,
    open_vault,
)

app = typer.Typer(help="Exchange API keys, encrypted at rest.", no_args_is_help=True)

VaultOpt = Annotated[Path | None, typer.Option("--vault", help="Vault file (default: vault.path).")]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option("--key-file", help="Master key file (default: vault.master_key_file)."),
]
OwnerOpt = Annotated[str, typer.Option("--owner", help="Who the key belongs to.")]
KeyIdOpt = Annotated[
    str | None, typer.Option("--key-id", help="Name of the key (default: exchange).")
]


def _ask_passphrase(new_vault: bool) -> str:
    passphrase = str(typer.prompt("Vault passphrase", hide_input=True))
    if new_vault and str(typer.prompt("Repeat passphrase", hide_input=True)) != passphrase:
        raise fail("the two passphrases differ")
    return passphrase


def _open(
    ctx: typer.Context, vault: Path | None, key_file: Path | None, *, create: bool = False
) -> Vault:
    settings = load_settings_or_exit(ctx).vault
    updates = {"path": vault, "master_key_file": key_file}
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    try:
        return open_vault(settings, create=create, prompt=_ask_passphrase)
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
    ctx: typer.Context,
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
    opened = _open(ctx, vault, key_file, create=True)
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
def list_keys(ctx: typer.Context, vault: VaultOpt = None, key_file: KeyFileOpt = None) -> None:
    """Show the stored keys (never their secrets)."""
    opened = _open(ctx, vault, key_file)
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
    ctx: typer.Context,
    exchange: Annotated[str, typer.Argument(help="ccxt exchange id.")],
    key_id: KeyIdOpt = None,
    owner: OwnerOpt = "default",
    vault: VaultOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Delete one stored key."""
    opened = _open(ctx, vault, key_file)
    try:
        opened.remove(owner, exchange, key_id or exchange)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    console.print(f"key {owner}/{exchange}/{key_id or exchange} removed", highlight=False)


@app.command("rotate")
def rotate(
    ctx: typer.Context,
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
    opened = _open(ctx, vault, key_file)
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
