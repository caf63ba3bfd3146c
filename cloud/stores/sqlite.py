"""The embedded default store: one SQLite file (WAL) in the service's data folder.

The SQL runs on one dedicated thread (:class:`SqliteStore`), never on the event loop;
:class:`TokenStore` is the same token logic, synchronous, for the ``token`` command and
for tools that run before a loop exists. Schema version in ``PRAGMA user_version``;
version 1 (results keyed by token name) is migrated to 2 on open.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from cloud.errors import RecordConflict, StoreUnavailable
from cloud.stores.base import (
    Client,
    Pending,
    Reservation,
    StoredResult,
    TokenError,
    TokenInfo,
    digests_match,
    new_token,
    token_digest,
)

T = TypeVar("T")
DB_NAME = "cloud.sqlite"
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token_sha256 BLOB PRIMARY KEY,
    client_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS results (
    client_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    digest TEXT,
    status TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (client_id, record_id)
);
CREATE TABLE IF NOT EXISTS pending (
    client_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (client_id, record_id)
);
"""
_MIGRATE_1_TO_2 = """
ALTER TABLE tokens RENAME TO tokens_v1;
ALTER TABLE results RENAME TO results_v1;
{schema}
INSERT INTO tokens (client_id, name, token_sha256, created_at, revoked_at)
    SELECT 'c' || lower(hex(randomblob(12))), name, token_sha256, created_at, revoked_at FROM tokens_v1;
INSERT INTO results (client_id, record_id, digest, status, http_status, body, created_at)
    SELECT COALESCE(t.client_id, r.client), r.record_id, NULL, r.status, r.http_status, r.body, r.created_at
    FROM results_v1 AS r LEFT JOIN tokens AS t ON t.name = r.client;
DROP TABLE results_v1;
DROP TABLE tokens_v1;
"""


def open_db(data_dir: Path) -> sqlite3.Connection:
    """Open (creating or migrating) ``cloud.sqlite`` in *data_dir* (folder 0700, file 0600)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / DB_NAME
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    with _transaction(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        columns = {row[1] for row in conn.execute("PRAGMA table_info(tokens)")}
        migrate = version < SCHEMA_VERSION and columns and "client_id" not in columns
        script = _MIGRATE_1_TO_2.format(schema=_SCHEMA) if migrate else _SCHEMA
        for statement in script.split(";"):  # one transaction (executescript would commit)
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return conn


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class TokenStore:
    """Create, revoke, list and verify bearer tokens on an open connection (synchronous).

    Examples
    --------
    >>> import tempfile
    >>> store = TokenStore(open_db(Path(tempfile.mkdtemp())))
    >>> token = store.create("alice")
    >>> store.verify(token)
    'alice'
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def create(self, name: str) -> str:
        """Make a new token (and client id) for *name*; return the token (shown once)."""
        token, client_id = new_token(name)
        try:
            self._conn.execute(
                "INSERT INTO tokens (client_id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)",
                (client_id, name, token_digest(token), time.time()),
            )
        except sqlite3.IntegrityError:
            raise TokenError(name, "already exists (revoke it first)") from None
        return token

    def rotate(self, name: str) -> str:
        """Replace *name*'s active token by a new one for the same client (its results
        stay readable); create the client when *name* has none. Returns the new token."""
        token, client_id = new_token(name)
        with _transaction(self._conn):
            row = self._conn.execute(
                "SELECT client_id FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone()
            now = time.time()
            if row is not None:
                client_id = str(row[0])
                self._conn.execute("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (now, name))
            self._conn.execute(
                "INSERT INTO tokens (client_id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)",
                (client_id, name, token_digest(token), now),
            )
        return token

    def revoke(self, name: str) -> None:
        """Revoke the active token of *name*; later requests with it get 401."""
        cur = self._conn.execute(
            "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (time.time(), name)
        )
        if cur.rowcount == 0:
            raise TokenError(name, "no active token with this name")

    def list(self) -> list[TokenInfo]:
        """Every token ever created, by name then creation time."""
        rows = self._conn.execute(
            "SELECT name, created_at, revoked_at, client_id FROM tokens ORDER BY name, created_at"
        ).fetchall()
        return [TokenInfo(name=r[0], created_at=r[1], revoked_at=r[2], client_id=r[3]) for r in rows]

    def client(self, token: str) -> Client | None:
        """The client owning an active *token* (digests compared in constant time)."""
        digest = token_digest(token)
        row = self._conn.execute(
            "SELECT client_id, name, token_sha256 FROM tokens WHERE token_sha256 = ? AND revoked_at IS NULL", (digest,)
        ).fetchone()
        if row is None or not hmac.compare_digest(bytes(row[2]), digest):
            return None
        return Client(id=str(row[0]), name=str(row[1]))

    def verify(self, token: str) -> str | None:
        """The name of the client owning an active *token*, else ``None``."""
        client = self.client(token)
        return None if client is None else client.name


class SqliteStore:
    """:class:`~cloud.stores.base.Store` on ``cloud.sqlite`` in *data_dir*."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        def call() -> T:
            if self._conn is None:
                self._conn = open_db(self.data_dir)
            return func(self._conn, *args)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, call)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"sqlite: {type(exc).__name__}: {exc}") from None

    async def connect(self) -> None:
        """Open (create, migrate) the database now rather than on first use."""
        await self._run(lambda conn: None)

    async def create_token(self, name: str) -> str:
        return await self._run(lambda conn: TokenStore(conn).create(name))

    async def rotate_token(self, name: str) -> str:
        return await self._run(lambda conn: TokenStore(conn).rotate(name))

    async def revoke_token(self, name: str) -> None:
        await self._run(lambda conn: TokenStore(conn).revoke(name))

    async def list_tokens(self) -> list[TokenInfo]:
        return await self._run(lambda conn: TokenStore(conn).list())

    async def verify_token(self, token: str) -> Client | None:
        return await self._run(lambda conn: TokenStore(conn).client(token))

    async def get_result(self, client_id: str, record_id: str) -> StoredResult | None:
        return await self._run(_get_result, client_id, record_id)

    async def reserve(self, client_id: str, record_id: str, digest: str, stale_after_s: float) -> Reservation:
        return await self._run(_reserve, client_id, record_id, digest, stale_after_s)

    async def put_result(self, client_id: str, record_id: str, status: str, result: StoredResult) -> bool:
        return await self._run(_put_result, client_id, record_id, status, result)

    async def release(self, client_id: str, record_id: str) -> None:
        await self._run(
            lambda conn: conn.execute("DELETE FROM pending WHERE client_id = ? AND record_id = ?", (client_id, record_id))
        )

    async def is_pending(self, client_id: str, record_id: str) -> bool:
        row = await self._run(
            lambda conn: conn.execute(
                "SELECT 1 FROM pending WHERE client_id = ? AND record_id = ?", (client_id, record_id)
            ).fetchone()
        )
        return row is not None

    async def pending(self, client_id: str, record_id: str) -> Pending | None:
        row = await self._run(
            lambda conn: conn.execute(
                "SELECT digest, updated_at FROM pending WHERE client_id = ? AND record_id = ?", (client_id, record_id)
            ).fetchone()
        )
        return None if row is None else Pending(str(row[0]), max(0.0, time.time() - float(row[1])))

    async def delete_result(self, client_id: str, record_id: str) -> None:
        await self._run(
            lambda conn: conn.execute("DELETE FROM results WHERE client_id = ? AND record_id = ?", (client_id, record_id))
        )

    async def delete_results(self, client_id: str, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        return int(await self._run(
            lambda conn: conn.execute(
                "DELETE FROM results WHERE client_id = ? AND created_at < ?", (client_id, cutoff)
            ).rowcount
        ))

    async def count_results(self) -> int:
        return int(await self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]))

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM pending").fetchone())

    async def close(self) -> None:
        def shut(conn: sqlite3.Connection) -> None:
            conn.close()
            self._conn = None

        if self._conn is not None:
            with contextlib.suppress(StoreUnavailable):
                await self._run(shut)
        self._thread.shutdown(wait=True)


def _get_result(conn: sqlite3.Connection, client_id: str, record_id: str) -> StoredResult | None:
    row = conn.execute(
        "SELECT http_status, body, digest FROM results WHERE client_id = ? AND record_id = ?", (client_id, record_id)
    ).fetchone()
    return None if row is None else StoredResult(int(row[0]), json.loads(row[1]), row[2])


def _reserve(conn: sqlite3.Connection, client_id: str, record_id: str, digest: str, stale_after_s: float) -> Reservation:
    with _transaction(conn):
        stored = _get_result(conn, client_id, record_id)
        if stored is not None:
            if not digests_match(stored.digest, digest):
                raise RecordConflict(record_id)
            return Reservation("stored", stored)
        now = time.time()
        row = conn.execute(
            "SELECT digest, updated_at FROM pending WHERE client_id = ? AND record_id = ?", (client_id, record_id)
        ).fetchone()
        if row is not None and now - float(row[1]) < stale_after_s:
            if row[0] != digest:
                raise RecordConflict(record_id)
            return Reservation("pending")
        conn.execute(
            "INSERT OR REPLACE INTO pending (client_id, record_id, digest, updated_at) VALUES (?, ?, ?, ?)",
            (client_id, record_id, digest, now),
        )
        return Reservation("new")


def _put_result(conn: sqlite3.Connection, client_id: str, record_id: str, status: str, result: StoredResult) -> bool:
    with _transaction(conn):
        cur = conn.execute(
            "INSERT OR IGNORE INTO results (client_id, record_id, digest, status, http_status, body, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (client_id, record_id, result.digest, status, result.http_status, json.dumps(result.body), time.time()),
        )
        conn.execute("DELETE FROM pending WHERE client_id = ? AND record_id = ?", (client_id, record_id))
    return cur.rowcount == 1
