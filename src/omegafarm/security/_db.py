"""The credential database: users, API tokens and browser sessions in one SQLite file.

SQLite, not Redis, because credentials must outlive a Redis flush and must be manageable with
the farm stopped (``omega users add`` before the first ``omega up``): one file, transactions,
WAL so the API reads while the CLI writes. Each query is an indexed lookup of microseconds,
so calls run inline; every connection is short-lived, so several processes share the file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from omegafarm.security.errors import CredentialStoreError, LastAdminError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role INTEGER NOT NULL,
    password_hash TEXT,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    prefix TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS credentials_user ON credentials(user);
"""


@dataclass(frozen=True)
class UserRow:
    """A user as stored (the password hash never leaves the security package)."""

    name: str
    role: int
    password_hash: str | None
    created_ms: int


@dataclass(frozen=True)
class CredentialRow:
    """A token or session as stored: the digest, never the secret."""

    prefix: str
    kind: str
    user: str
    digest: str
    label: str
    created_ms: int
    expires_ms: int | None
    revoked: bool


class CredentialDB:
    """Typed access to the credential file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader: sqlite3.Connection | None = None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._connect(transaction=False) as db:
            db.executescript(_SCHEMA)
        with contextlib.suppress(OSError):
            path.chmod(0o600)

    @contextlib.contextmanager
    def _connect(self, *, transaction: bool = True) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise CredentialStoreError(f"cannot open {self.path}: {exc}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            if not transaction:
                yield db
                return
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise CredentialStoreError(f"credential database error: {exc}") from None
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def close(self) -> None:
        """Close the shared read connection."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _read(self, query: str, args: tuple[object, ...]) -> tuple[object, ...] | None:
        """One row from the long-lived read connection (autocommit: sees every commit)."""
        try:
            if self._reader is None:
                self._reader = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
                self._reader.execute("PRAGMA query_only=ON")
            row: tuple[object, ...] | None = self._reader.execute(query, args).fetchone()
        except sqlite3.Error as exc:
            self.close()
            raise CredentialStoreError(f"credential database error: {exc}") from None
        return row

    def credential_with_role(self, prefix: str) -> tuple[CredentialRow, int] | None:
        """The credential with this prefix and its user's role, in one indexed lookup."""
        row = self._read(
            "SELECT c.*, u.role FROM credentials c JOIN users u ON u.name = c.user "
            "WHERE c.prefix = ?",
            (prefix,),
        )
        return None if row is None else (_credential(row[:8]), int(str(row[8])))

    def user_count(self) -> int:
        """How many users exist (a cheap read for health checks)."""
        row = self._read("SELECT count(*) FROM users", ())
        return 0 if row is None else int(str(row[0]))

    # ------------------------------------------------------------------ users
    def insert_user(self, row: UserRow) -> bool:
        """Add a user; False if the name is taken."""
        with self._connect() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO users VALUES (?, ?, ?, ?)",
                (row.name, row.role, row.password_hash, row.created_ms),
            )
            return cur.rowcount == 1

    def update_user(
        self,
        name: str,
        *,
        role: int | None,
        password_hash: str | None,
        keep_role: int | None = None,
    ) -> bool:
        """Change a user's role and/or password hash; False if there is no such user.

        ``keep_role``: refuse (:class:`LastAdminError`) to move the last user holding this
        role to another one; checked in the same write transaction, so two concurrent
        demotions cannot both pass.
        """
        with self._connect() as db:
            if keep_role is not None and role is not None and role != keep_role:
                _refuse_last(db, name, keep_role, "demote")
            cur = db.execute(
                "UPDATE users SET role = COALESCE(?, role), "
                "password_hash = COALESCE(?, password_hash) WHERE name = ?",
                (role, password_hash, name),
            )
            return cur.rowcount == 1

    def user(self, name: str) -> UserRow | None:
        """The user called ``name``, if any."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else UserRow(*row)

    def users(self) -> list[UserRow]:
        """Every user, by name."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM users ORDER BY name").fetchall()
        return [UserRow(*r) for r in rows]

    def delete_user(self, name: str, *, keep_role: int | None = None) -> bool:
        """Remove a user and (cascade) their tokens and sessions; False if absent.

        ``keep_role``: refuse (:class:`LastAdminError`) to remove the last user with it.
        """
        with self._connect() as db:
            if keep_role is not None:
                _refuse_last(db, name, keep_role, "remove")
            return db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 1

    # ------------------------------------------------------------------ tokens and sessions
    def insert_credential(self, row: CredentialRow) -> None:
        """Store a new token or session digest."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO credentials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.prefix,
                    row.kind,
                    row.user,
                    row.digest,
                    row.label,
                    row.created_ms,
                    row.expires_ms,
                    int(row.revoked),
                ),
            )

    def credential(self, prefix: str) -> CredentialRow | None:
        """The token or session with this public prefix."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM credentials WHERE prefix = ?", (prefix,)).fetchone()
        return None if row is None else _credential(row)

    def credentials(self, kind: str, user: str | None = None) -> list[CredentialRow]:
        """Tokens (or sessions) of one user or of everyone, oldest first."""
        query = "SELECT * FROM credentials WHERE kind = ?"
        args: tuple[str, ...] = (kind,)
        if user is not None:
            query += " AND user = ?"
            args = (kind, user)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created_ms, prefix", args).fetchall()
        return [_credential(r) for r in rows]

    def revoke(self, prefix: str) -> CredentialRow | None:
        """Mark a credential revoked; returns it (None if unknown)."""
        with self._connect() as db:
            db.execute("UPDATE credentials SET revoked = 1 WHERE prefix = ?", (prefix,))
            row = db.execute("SELECT * FROM credentials WHERE prefix = ?", (prefix,)).fetchone()
        return None if row is None else _credential(row)

    def purge_expired(self, now_ms: int) -> int:
        """Delete expired sessions; returns how many."""
        with self._connect() as db:
            cur = db.execute(
                "DELETE FROM credentials WHERE kind = 'oms' AND expires_ms < ?", (now_ms,)
            )
            return cur.rowcount


def _refuse_last(db: sqlite3.Connection, name: str, role: int, verb: str) -> None:
    """Raise LastAdminError when ``name`` is the only user holding ``role``."""
    holders = [r[0] for r in db.execute("SELECT name FROM users WHERE role = ?", (role,))]
    if holders == [name]:
        raise LastAdminError(
            f"cannot {verb} {name!r}: it is the last admin (add another admin first, "
            "or use the omega users CLI on the farm's machine)"
        )


def _credential(row: tuple[object, ...]) -> CredentialRow:
    prefix, kind, user, digest, label, created, expires, revoked = row
    return CredentialRow(
        str(prefix),
        str(kind),
        str(user),
        str(digest),
        str(label),
        int(str(created)),
        None if expires is None else int(str(expires)),
        bool(revoked),
    )
