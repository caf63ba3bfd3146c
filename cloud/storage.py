"""Durable state of the service: hashed tokens and finished results (SQLite, WAL).

Tokens are random (256 bits), so a plain SHA-256 of the token is a safe verifier;
only the hash is stored. Results are keyed by ``(client, recordId)``: a repeated
``recordId`` returns the stored answer, also after a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud.errors import CloudError

DB_NAME = "cloud.sqlite"
TOKEN_PREFIX = "clk_"
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    token_sha256 BLOB NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS results (
    client TEXT NOT NULL,
    record_id TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (client, record_id)
);
"""


class TokenError(CloudError):
    """A token operation was refused (duplicate or unknown name)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"token {name!r}: {message}")
        self.name = name


@dataclass(frozen=True)
class TokenInfo:
    """One row of ``token list`` (never the token itself)."""

    name: str
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True)
class StoredResult:
    """A finished answer: HTTP status and JSON body."""

    http_status: int
    body: dict[str, Any]


def open_db(data_dir: Path) -> sqlite3.Connection:
    """Open (creating if needed) ``cloud.sqlite`` in *data_dir*."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / DB_NAME, isolation_level=None, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenStore:
    """Create, revoke, list and verify bearer tokens.

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
        """Make a new token for *name* and return it (shown once, stored hashed)."""
        if not _NAME_RE.match(name):
            raise TokenError(name, "name must be 1-64 letters, digits, '-', '_' or '.'")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = self._conn.execute("SELECT revoked_at FROM tokens WHERE name = ?", (name,)).fetchone()
        if row is not None and row[0] is None:
            raise TokenError(name, "already exists (revoke it first)")
        self._conn.execute(
            "INSERT OR REPLACE INTO tokens (name, token_sha256, created_at, revoked_at) VALUES (?, ?, ?, NULL)",
            (name, _digest(token), time.time()),
        )
        return token

    def revoke(self, name: str) -> None:
        """Revoke the token of *name*; later requests with it get 401."""
        cur = self._conn.execute(
            "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (time.time(), name)
        )
        if cur.rowcount == 0:
            raise TokenError(name, "no active token with this name")

    def list(self) -> list[TokenInfo]:
        """Every token ever created, by name."""
        rows = self._conn.execute("SELECT name, created_at, revoked_at FROM tokens ORDER BY name").fetchall()
        return [TokenInfo(name=r[0], created_at=r[1], revoked_at=r[2]) for r in rows]

    def verify(self, token: str) -> str | None:
        """Return the client name owning an active *token*, else ``None``.

        The stored and presented digests are compared in constant time.
        """
        digest = _digest(token)
        row = self._conn.execute(
            "SELECT name, token_sha256 FROM tokens WHERE token_sha256 = ? AND revoked_at IS NULL", (digest,)
        ).fetchone()
        if row is None or not hmac.compare_digest(bytes(row[1]), digest):
            return None
        return str(row[0])


class ResultStore:
    """Finished answers by ``(client, recordId)``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, client: str, record_id: str) -> StoredResult | None:
        """The stored answer, or ``None``."""
        row = self._conn.execute(
            "SELECT http_status, body FROM results WHERE client = ? AND record_id = ?", (client, record_id)
        ).fetchone()
        if row is None:
            return None
        return StoredResult(http_status=int(row[0]), body=json.loads(row[1]))

    def put(self, client: str, record_id: str, status: str, result: StoredResult) -> None:
        """Store an answer (first one wins: a record is analysed once)."""
        self._conn.execute(
            "INSERT OR IGNORE INTO results (client, record_id, status, http_status, body, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (client, record_id, status, result.http_status, json.dumps(result.body), time.time()),
        )

    def count(self) -> int:
        """Number of stored answers."""
        return int(self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])
