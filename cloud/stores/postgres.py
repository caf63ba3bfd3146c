"""The store on PostgreSQL (``asyncpg``), shared by every API replica and worker.

The service creates and migrates its schema itself (:data:`MIGRATIONS`, applied in
order under an advisory lock, version kept in ``cardio_schema``), so a new database
needs only ``createdb``. Every backend failure becomes
:class:`~cloud.errors.StoreUnavailable` (503 + ``Retry-After``); connects and commands
are bounded in time, so an unreachable server never hangs a request.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

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
CONNECT_TIMEOUT_S = 3.0
COMMAND_TIMEOUT_S = 10.0
_LOCK_ID = 0x43415244  # advisory lock held while migrating
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tokens (
        token_sha256 BYTEA PRIMARY KEY,
        client_id TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION
    );
    CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;
    CREATE TABLE results (
        client_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        digest TEXT,
        status TEXT NOT NULL,
        http_status INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (client_id, record_id)
    );
    CREATE TABLE pending (
        client_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (client_id, record_id)
    );
    """,
)
_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class PostgresStore:
    """:class:`~cloud.stores.base.Store` on PostgreSQL.

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/dbname``.
    max_connections : int
        Pool size of this process.
    """

    def __init__(self, url: str, max_connections: int = 10) -> None:
        self.url = url
        self.max_connections = max_connections
        self._pool: asyncpg.Pool | None = None

    async def connect(self) -> None:
        """Open the pool and apply pending migrations."""
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.max_connections,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=COMMAND_TIMEOUT_S,
            )
        except _FAILURES as exc:
            raise StoreUnavailable(f"postgresql: cannot connect ({type(exc).__name__}: {exc})") from None
        await self._run(_migrate)

    async def _run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        if self._pool is None:
            raise StoreUnavailable("postgresql: not connected")
        try:
            async with self._pool.acquire(timeout=CONNECT_TIMEOUT_S) as conn:
                return await func(conn, *args)
        except _FAILURES as exc:
            raise StoreUnavailable(f"postgresql: {type(exc).__name__}: {exc}") from None

    async def create_token(self, name: str) -> str:
        token, client_id = new_token(name)

        async def insert(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "INSERT INTO tokens (client_id, name, token_sha256, created_at) VALUES ($1, $2, $3, $4)",
                client_id, name, token_digest(token), time.time(),
            )

        try:
            await self._run(insert)
        except StoreUnavailable as exc:
            if "UniqueViolation" in str(exc):
                raise TokenError(name, "already exists (revoke it first)") from None
            raise
        return token

    async def rotate_token(self, name: str) -> str:
        token, client_id = new_token(name)

        async def rotate(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                now = time.time()
                old = await conn.fetchval(
                    "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL RETURNING client_id", now, name
                )
                await conn.execute(
                    "INSERT INTO tokens (client_id, name, token_sha256, created_at) VALUES ($1, $2, $3, $4)",
                    old or client_id, name, token_digest(token), now,
                )

        await self._run(rotate)
        return token

    async def revoke_token(self, name: str) -> None:
        status = await self._run(
            lambda c: c.execute(
                "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL", time.time(), name
            )
        )
        if status.endswith(" 0"):
            raise TokenError(name, "no active token with this name")

    async def list_tokens(self) -> list[TokenInfo]:
        rows = await self._run(
            lambda c: c.fetch("SELECT name, created_at, revoked_at, client_id FROM tokens ORDER BY name, created_at")
        )
        return [TokenInfo(r[0], r[1], r[2], r[3]) for r in rows]

    async def verify_token(self, token: str) -> Client | None:
        digest = token_digest(token)
        row = await self._run(
            lambda c: c.fetchrow(
                "SELECT client_id, name, token_sha256 FROM tokens WHERE token_sha256 = $1 AND revoked_at IS NULL", digest
            )
        )
        if row is None or not hmac.compare_digest(bytes(row[2]), digest):
            return None
        return Client(id=row[0], name=row[1])

    async def get_result(self, client_id: str, record_id: str) -> StoredResult | None:
        return await self._run(_get_result, client_id, record_id)

    async def reserve(self, client_id: str, record_id: str, digest: str, stale_after_s: float) -> Reservation:
        return await self._run(_reserve, client_id, record_id, digest, stale_after_s)

    async def put_result(self, client_id: str, record_id: str, status: str, result: StoredResult) -> bool:
        return await self._run(_put_result, client_id, record_id, status, result)

    async def release(self, client_id: str, record_id: str) -> None:
        await self._run(
            lambda c: c.execute("DELETE FROM pending WHERE client_id = $1 AND record_id = $2", client_id, record_id)
        )

    async def is_pending(self, client_id: str, record_id: str) -> bool:
        row = await self._run(
            lambda c: c.fetchrow("SELECT 1 FROM pending WHERE client_id = $1 AND record_id = $2", client_id, record_id)
        )
        return row is not None

    async def pending(self, client_id: str, record_id: str) -> Pending | None:
        row = await self._run(
            lambda c: c.fetchrow(
                "SELECT digest, updated_at FROM pending WHERE client_id = $1 AND record_id = $2", client_id, record_id
            )
        )
        return None if row is None else Pending(str(row[0]), max(0.0, time.time() - float(row[1])))

    async def delete_result(self, client_id: str, record_id: str) -> None:
        await self._run(
            lambda c: c.execute("DELETE FROM results WHERE client_id = $1 AND record_id = $2", client_id, record_id)
        )

    async def delete_results(self, client_id: str, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        status = await self._run(
            lambda c: c.execute("DELETE FROM results WHERE client_id = $1 AND created_at < $2", client_id, cutoff)
        )
        return int(str(status).rsplit(" ", 1)[-1])

    async def count_results(self) -> int:
        return int(await self._run(lambda c: c.fetchval("SELECT COUNT(*) FROM results")))

    async def ping(self) -> None:
        await self._run(lambda c: c.fetchval("SELECT 1"))

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await pool.close()
            except _FAILURES:
                pool.terminate()


async def _migrate(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await conn.execute("CREATE TABLE IF NOT EXISTS cardio_schema (version INTEGER NOT NULL)")
        version = await conn.fetchval("SELECT max(version) FROM cardio_schema") or 0
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            await conn.execute(sql)
            await conn.execute("INSERT INTO cardio_schema (version) VALUES ($1)", number)


async def _get_result(conn: asyncpg.Connection, client_id: str, record_id: str) -> StoredResult | None:
    row = await conn.fetchrow(
        "SELECT http_status, body, digest FROM results WHERE client_id = $1 AND record_id = $2", client_id, record_id
    )
    return None if row is None else StoredResult(int(row[0]), json.loads(row[1]), row[2])


async def _reserve(
    conn: asyncpg.Connection, client_id: str, record_id: str, digest: str, stale_after_s: float
) -> Reservation:
    async with conn.transaction():
        stored = await _get_result(conn, client_id, record_id)
        if stored is not None:
            if not digests_match(stored.digest, digest):
                raise RecordConflict(record_id)
            return Reservation("stored", stored)
        now = time.time()
        row = await conn.fetchrow(
            "INSERT INTO pending AS p (client_id, record_id, digest, updated_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (client_id, record_id) DO UPDATE SET digest = $3, updated_at = $4"
            " WHERE p.updated_at < $5 RETURNING 1",
            client_id, record_id, digest, now, now - stale_after_s,
        )
        if row is not None:
            return Reservation("new")
        existing = await conn.fetchval(
            "SELECT digest FROM pending WHERE client_id = $1 AND record_id = $2", client_id, record_id
        )
        if existing is not None and existing != digest:
            raise RecordConflict(record_id)
        return Reservation("pending")


async def _put_result(
    conn: asyncpg.Connection, client_id: str, record_id: str, status: str, result: StoredResult
) -> bool:
    async with conn.transaction():
        inserted = await conn.fetchval(
            "INSERT INTO results (client_id, record_id, digest, status, http_status, body, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1",
            client_id, record_id, result.digest, status, result.http_status, json.dumps(result.body), time.time(),
        )
        await conn.execute("DELETE FROM pending WHERE client_id = $1 AND record_id = $2", client_id, record_id)
    return inserted is not None
